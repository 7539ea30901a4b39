export * from './fields';
export * from './node';
export * from './parse';
export * from './plan';

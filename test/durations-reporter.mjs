// A node:test reporter that writes, as JSON, how long each test file's top-level suites took ({ file: ms }). test/run.ts
// starts the slowest files of the last run first, so the few long ones do not end up last on the workers.
export default async function* fileDurations(source) {
  const byFile = {};
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file)
      byFile[event.data.file] = (byFile[event.data.file] ?? 0) + (event.data.details?.duration_ms ?? 0);
  }
  yield `${JSON.stringify(byFile)}\n`;
}

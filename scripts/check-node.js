// Fails early, with the fix, when npm scripts are not running on the project's Node (>= 22.19, from the `node` devDependency).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(
    `liveupdate-operator needs Node.js >= 22.19 (client-node 2.x); this is ${process.version} at ${process.execPath}.\n` +
      'Run `npm ci` first: the `node` devDependency installs Node 24 into node_modules/.bin, which npm scripts use.',
  );
  process.exit(1);
}

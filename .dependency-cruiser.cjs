/* global module */
// The import direction of dropkeys (README "Where things are"): cli → commands → operations →
// domain engines (src/lib/<domain>/) → infrastructure (the rest of src/lib). Each layer imports
// only from layers below it; type-only imports count too, since a type import still ties a lower
// module's meaning to a higher one's.
const domain = "^src/lib/(keys|jwt|shred|reencrypt|audit|incident|approvals|envelope|grants|certs|doctor|completion)/";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", comment: "Modules must not import each other in a circle.", from: {}, to: { circular: true } },
    { name: "commands-below-cli", severity: "error", comment: "src/commands may not import src/cli.ts.", from: { path: "^src/commands/" }, to: { path: "^src/cli\\.ts$" } },
    { name: "operations-below-commands", severity: "error", comment: "src/operations may not import src/commands or src/cli.ts.", from: { path: "^src/operations/" }, to: { path: ["^src/commands/", "^src/cli\\.ts$"] } },
    { name: "engines-below-operations", severity: "error", comment: "Domain engines (src/lib/<domain>/) may not import operations, commands or the cli.", from: { path: domain }, to: { path: ["^src/operations/", "^src/commands/", "^src/cli\\.ts$"] } },
    { name: "infrastructure-below-engines", severity: "error", comment: "Infrastructure (the rest of src/lib) may not import domain engines, operations, commands or the cli.", from: { path: "^src/lib/", pathNot: domain }, to: { path: [domain, "^src/operations/", "^src/commands/", "^src/cli\\.ts$"] } },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs", ".cjs", ".json"] },
  },
};

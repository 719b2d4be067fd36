// Usage: node validate.mjs FILE.glb  -> prints the validator's JSON report; exit 1 on errors.
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";

const path = process.argv[2];
const data = new Uint8Array(await readFile(path));
const report = await validator.validateBytes(data, { maxIssues: 200 });
console.log(JSON.stringify(report, null, 1));
process.exit(report.issues.numErrors > 0 ? 1 : 0);

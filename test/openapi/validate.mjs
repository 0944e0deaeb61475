// Validates an OpenAPI document with @apidevtools/swagger-parser (the
// OpenAPI 3.0 schema, then every $ref resolved), and checks it holds exactly
// the operations given: node validate.mjs DOC.json OPERATION_IDS.txt
import SwaggerParser from "@apidevtools/swagger-parser";
import { readFileSync } from "node:fs";

const [doc, idsFile] = process.argv.slice(2);
const api = await SwaggerParser.validate(doc);
const seen = new Set();
for (const ops of Object.values(api.paths)) {
  for (const op of Object.values(ops)) seen.add(op.operationId);
}
const want = new Set(readFileSync(idsFile, "utf8").split("\n").filter(Boolean));
const missing = [...want].filter((id) => !seen.has(id));
const extra = [...seen].filter((id) => !want.has(id));
if (missing.length || extra.length) {
  console.error(`missing: ${missing.join(", ")}; not annotated: ${extra.join(", ")}`);
  process.exit(1);
}
console.log(`valid OpenAPI ${api.openapi}: ${seen.size} operations, ${Object.keys(api.paths).length} paths`);

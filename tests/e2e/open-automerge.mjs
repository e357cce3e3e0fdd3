// Opens a `.automerge` file with the JavaScript implementation of
// Automerge (not the Rust crate Kith uses) and prints what it holds as
// JSON: proof that Kith's page export is a standard document.
// Usage: node open-automerge.mjs FILE
import { readFileSync } from "node:fs";
import * as Automerge from "@automerge/automerge";

const doc = Automerge.load(new Uint8Array(readFileSync(process.argv[2])));
console.log(
  JSON.stringify({
    title: doc.title,
    body: String(doc.body),
    archived: doc.archived,
    changes: Automerge.getAllChanges(doc).length,
  }),
);

// Validates an AsyncAPI document with the official parser (@asyncapi/parser): its JSON schema
// and its semantic rules (an operation's messages belong to its channel, references resolve,
// payloads are valid schemas, ...), which a structural lint does not check.
// Usage: node lint-asyncapi.mjs asyncapi.json. Exit 1 on any error or warning.
import { Parser, fromFile } from '@asyncapi/parser';

const SEVERITY = ['error', 'warning', 'information', 'hint'];
const file = process.argv[2];
if (!file) {
	console.error('usage: node lint-asyncapi.mjs FILE');
	process.exit(2);
}
const { document, diagnostics } = await fromFile(new Parser(), file).parse();
let failed = !document;
for (const d of diagnostics) {
	const where = d.path.length ? '#/' + d.path.join('/') : '#';
	console.log(`${file}: ${SEVERITY[d.severity] ?? d.severity} ${d.code} at ${where}: ${d.message}`);
	if (d.severity <= 1)
		failed = true;
}
if (failed) {
	console.log(`${file}: AsyncAPI validation failed`);
	process.exit(1);
}
console.log(`${file}: valid AsyncAPI ${document.version()} (${document.allMessages().length} messages)`);

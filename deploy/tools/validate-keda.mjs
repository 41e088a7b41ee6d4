// Validates every KEDA object in the Kubernetes manifests read from stdin (a multi-document
// YAML stream, as `kustomize build` prints it) against KEDA's CRD schemas
// (@kubernetes-models/keda, generated from KEDA's CRDs). Prints what it checked as JSON;
// exits 1 on the first invalid object or when none was found.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { ScaledObject, ScaledJob, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';

const MODELS = { ScaledObject, ScaledJob, TriggerAuthentication };
const docs = parseAllDocuments(readFileSync(0, 'utf8')).map((d) => d.toJS()).filter(Boolean);
const checked = [];
for (const doc of docs) {
  if (!String(doc.apiVersion ?? '').startsWith('keda.sh/')) continue;
  const Model = MODELS[doc.kind];
  if (!Model) {
    console.error(`no schema for KEDA kind ${doc.kind}`);
    process.exit(1);
  }
  try {
    new Model(doc).validate();
  } catch (e) {
    console.error(`${doc.kind} ${doc.metadata?.name}: ${e.message ?? e}`);
    process.exit(1);
  }
  checked.push(`${doc.kind}/${doc.metadata?.name}`);
}
if (checked.length === 0) {
  console.error('no KEDA object in the input');
  process.exit(1);
}
console.log(JSON.stringify({ checked }));

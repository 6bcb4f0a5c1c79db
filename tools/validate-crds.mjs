// Validate Gateway API, Envoy Gateway and cert-manager objects (JSON files) against their owners' published
// schemas, as compiled into @kubernetes-models/gateway-api (from sigs.k8s.io/gateway-api's API types),
// @kubernetes-models/envoy-gateway (from github.com/envoyproxy/gateway/api/v1alpha1) and
// @kubernetes-models/cert-manager (from cert-manager's). Prints "passed <file>" or "failed <file>: <why>";
// exits 1 if any failed, 2 for a kind no package carries.
import { readFileSync } from "node:fs";
import * as gatewayV1 from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import * as certManagerV1 from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import * as envoyGatewayV1alpha1 from "@kubernetes-models/envoy-gateway/gateway.envoyproxy.io/v1alpha1";

const MODELS = {
  "gateway.networking.k8s.io/v1": gatewayV1,
  "cert-manager.io/v1": certManagerV1,
  "gateway.envoyproxy.io/v1alpha1": envoyGatewayV1alpha1,
};
let status = 0;
for (const file of process.argv.slice(2)) {
  const manifest = JSON.parse(readFileSync(file, "utf8"));
  const Model = (MODELS[manifest.apiVersion] || {})[manifest.kind];
  if (!Model) {
    console.log(`unknown ${file}: no published schema for ${manifest.apiVersion} ${manifest.kind}`);
    status = Math.max(status, 2);
    continue;
  }
  try {
    new Model(manifest).validate();
    console.log(`passed ${file}`);
  } catch (error) {
    console.log(`failed ${file}: ${error.message}`);
    status = Math.max(status, 1);
  }
}
process.exit(status);

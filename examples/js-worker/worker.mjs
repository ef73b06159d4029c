// A CAIO bridge worker in JavaScript, written from docs/protocol.md alone:
// register a contract, serve one capability as a NATS micro endpoint, heartbeat.
import { randomUUID } from "node:crypto";
import { connect, headers } from "@nats-io/transport-node";
import { Svcm } from "@nats-io/services";

// The service id is a subject token: [a-z0-9][a-z0-9_-]{0,63}.
const { CAIO_NATS_URL: url = "nats://127.0.0.1:4222", CAIO_PREFIX: prefix = "caio",
  CAIO_SERVICE_ID: serviceId = "js-echo", CAIO_API_KEY: apiKey } = process.env;
const capability = "text_echo";
const instanceId = `${serviceId}-${randomUUID().slice(0, 8)}`;
const contract = { service: {
  id: serviceId, name: "JavaScript echo", version: "1.0.0", capabilities: [{ type: capability }],
  guarantees: { latency: { property: "p95_latency_ms", bound: { max: 100 } } },
  cost: { model: "free", token_cost: 0, currency: "USD" },
  privacy: { data_locality: "on_prem", hipaa_compliant: false },
} };

const nc = await connect({ servers: url, name: instanceId });
const auth = headers();
if (apiKey) auth.set("Authorization", `Bearer ${apiKey}`);
const body = JSON.stringify({ contract });
const reg = (await nc.request(`${prefix}.registry.register`, body, { headers: auth })).json();
if (reg.status !== "registered") {
  console.error("registration refused:", JSON.stringify(reg.error));
  process.exit(1);
}

const fail = (id, code, message) => ({ status: "error", request_id: id, error: { code, message } });
function answer(msg) {
  let req;
  try { req = msg.json(); } catch { /* not JSON: it has no context.text either */ }
  const text = req?.context?.text;
  if (typeof text !== "string") return fail(req?.request_id, "invalid_request", "no context.text");
  if (Date.now() > req.deadline_ms) return fail(req.request_id, "timeout", "deadline passed");
  const result = { text, served_by: serviceId, instance_id: instanceId };
  return { status: "ok", request_id: req.request_id, result, usage: { chars: text.length } };
}
const service = await new Svcm(nc).add({ name: serviceId, version: "1.0.0", queue: serviceId,
  metadata: { service_id: serviceId, instance_id: instanceId, prefix } });
service.addEndpoint(capability, { subject: `${prefix}.svc.${serviceId}.${capability}`,
  handler: (_, msg) => msg.respond(JSON.stringify(answer(msg))) });
await nc.flush(); // the endpoint is on the server before the router hears we are alive

const beat = (stopping) => nc.publish(`${prefix}.heartbeat.${serviceId}`, JSON.stringify({
  service_id: serviceId, instance_id: instanceId, ts: new Date().toISOString(), stopping }));
beat(false);
const timer = setInterval(() => beat(false), 5000); // the protocol: at least every 5 s
console.log(`${instanceId}: serving ${capability} on ${url}, prefix ${prefix}`);

async function stop() {
  clearInterval(timer);
  beat(true); // extension (docs/protocol.md): the router drops this instance at once
  await service.stop(); // drains the endpoint: requests already received are answered
  await nc.drain();
  process.exit(0);
}
process.once("SIGTERM", stop).once("SIGINT", stop);

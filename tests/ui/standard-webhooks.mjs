// A webhook as a Standard Webhooks sender posts it: `v1,` base64 HMAC-SHA256 of
// "id.timestamp.body" under the secret's bytes (after `whsec_`). No npm package: the desktop
// smoke test imports it too.
import { createHmac, randomUUID } from "node:crypto";

/** Posts `body` to `url` signed with `secret`; the status and the JSON answer. */
export async function postSignedWebhook(url, secret, body) {
  const id = `msg_${randomUUID()}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": timestamp,
      "webhook-signature": `v1,${signature}`,
    },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

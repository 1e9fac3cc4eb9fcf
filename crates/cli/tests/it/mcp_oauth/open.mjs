// The headless browser of the sign-in tests (`--open-with "node open.mjs"`): GETs the URL
// given as its last argument, following redirects (the authorization server's /authorize
// redirects at once to the client's loopback listener), and fails unless the last answer is
// a 2xx. Node's fetch uses no proxy from the environment: every hop is on 127.0.0.1.
const url = process.argv.at(-1);
try {
  const answer = await fetch(url, { redirect: 'follow' });
  await answer.arrayBuffer();
  if (!answer.ok) {
    process.stderr.write(`open.mjs: ${answer.status} from ${new URL(answer.url).origin}\n`);
    process.exit(1);
  }
} catch (e) {
  process.stderr.write(`open.mjs: ${e.message}\n`);
  process.exit(1);
}

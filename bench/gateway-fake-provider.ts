/** Child process of bench:gateway: the fake OpenAI-compatible provider of the tests (test/fake-llm.ts). Prints its base URL. */
import { startFakeProvider } from '../packages/server/test/fake-llm.ts';

const f = await startFakeProvider('openai');
// The bench sends thousands of requests: keep no copies of them.
f.received.push = () => 0;
f.raw.push = () => 0;
process.stdout.write(`${f.url}\n`);
process.on('SIGTERM', () => void f.close().then(() => process.exit(0)));

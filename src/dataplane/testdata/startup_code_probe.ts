/**
 * Child-process half of startup_code_test.ts: starts a Worker (a second isolate, as the fast plane does), drops
 * the start-up code, makes the Worker answer again, and prints what {@linkcode dropStartupCode} returned, the
 * Worker's answers and the executable's resident bytes after the second answer, as JSON.
 *
 * It runs from a private copy of the runtime: the kernel leaves pages mapped by another process resident, and the
 * test runner maps the same executable.
 * @module
 */
import { dropStartupCode, executableResidentBytes } from "../startup_code.ts";

const worker = new Worker(`data:text/javascript,self.onmessage = (e) => self.postMessage(e.data + 1);`, {
  type: "module",
});
const ask = (n: number) =>
  new Promise<number>((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.postMessage(n);
  });
const answers = [await ask(41)];
const drop = dropStartupCode();
answers.push(await ask(99));
const later = executableResidentBytes();
worker.terminate();
console.log(JSON.stringify({ answers, drop, later }));

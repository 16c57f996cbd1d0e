/**
 * The node:http(s) agent of the sinks whose npm clients read answers themselves (ClickHouse,
 * S3/MinIO): both read an error body whole into one string, and a query's or a listing's too.
 * The agent bounds them where they cannot be reached otherwise, on the socket: an answer (head and
 * body) past {@link ANSWER_LIMIT} ends its connection with an error, and a redirect is refused
 * before its body is read (neither client follows one; the error names where it pointed). The
 * clients report such an ending as their own ("aborted", an empty message): the sink asks
 * {@link BoundedAgent.refusal} for the reason.
 */
import type { Agent, ClientRequest, IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { NodeTlsOptions } from "../tls.ts";
import {
  ANSWER_LIMIT,
  AnswerTooLargeError,
  isRedirect,
  redirectMessage,
} from "../util/http_answer.ts";

/** The parts of a node Agent the bound hooks into (not all in its published types). */
interface HookableAgent {
  createConnection(options: unknown, callback?: unknown): Socket;
  addRequest(req: ClientRequest, options: unknown): void;
}

/** An agent, and why it last ended an answer (taken once: null afterwards, and when none). */
export interface BoundedAgent {
  agent: Agent;
  refusal(): string | null;
}

/**
 * A keep-alive agent for `url` (node:https for https://, with `tls`) that reads at most `limit`
 * bytes (default {@link ANSWER_LIMIT}) of any one answer and refuses redirects; `where` names the
 * upstream in its errors.
 */
export async function createHttpAgent(
  url: string,
  options: { where: string; tls?: NodeTlsOptions; limit?: number },
): Promise<BoundedAgent> {
  let refused: string | null = null;
  const limit = options.limit ?? ANSWER_LIMIT;
  const https = new URL(url).protocol === "https:";
  // Loaded by the sinks that need it: node:https only for an https url.
  const base = https
    ? (await import("node:https")).Agent as unknown as typeof Agent
    : (await import("node:http")).Agent;
  const agent = new base({ ...options.tls, keepAlive: true });
  const hooks = agent as unknown as HookableAgent;
  const connect = hooks.createConnection.bind(agent);
  hooks.createConnection = (connectOptions, callback) => {
    const socket = connect(connectOptions, callback);
    // Bytes of the answer now on this socket; a kept-alive socket starts again when freed.
    let received = 0;
    socket.on("data", (chunk: Uint8Array) => {
      received += chunk.length;
      if (received > limit && !socket.destroyed) {
        const error = new AnswerTooLargeError(options.where, limit);
        refused = error.message;
        socket.destroy(error);
      }
    });
    socket.on("free", () => received = 0);
    return socket;
  };
  const add = hooks.addRequest.bind(agent);
  hooks.addRequest = (req, addOptions) => {
    req.once("response", (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (!isRedirect(status)) return;
      refused = redirectMessage(options.where, { status, location: res.headers.location });
      req.destroy(new Error(refused));
    });
    add(req, addOptions);
  };
  return {
    agent,
    refusal() {
      const reason = refused;
      refused = null;
      return reason;
    },
  };
}

import type { Request, Response } from 'express';

/**
 * Call before answering a request whose body may not have been read (a refusal, an error). Such
 * an answer closes the connection: to keep it alive, Node would read the rest of the body and
 * throw it away, however large the client said it was.
 */
export function closeIfBodyUnread(req: Request, res: Response): void {
  const length = req.headers['content-length'];
  const declaresBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (declaresBody && !req.complete && !res.headersSent) res.setHeader('Connection', 'close');
}

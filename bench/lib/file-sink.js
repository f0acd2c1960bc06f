'use strict';
// A new file written as a bench ceiling writes a blob it stores (the verifying write-through proxy, the
// verifying fan-out server): chunks gathered into batches of at least 1 MiB, each one vectored write at its
// own offset, two in flight, the queue never waited for by the writer; `finish` writes the rest, fsyncs and
// closes.
const fs = require('node:fs');

const MiB = 1024 * 1024;
const IN_FLIGHT = 2;

/** A new file written in gathered batches of >= 1 MiB, `IN_FLIGHT` writes at once, never waited for by the writer. */
class FileSink {
  constructor(fd) {
    this.fd = fd;
    this.batch = [];
    this.batchBytes = 0;
    this.position = 0;
    this.queue = [];
    this.inFlight = 0;
    this.error = undefined;
    this.idle = undefined; // resolves when the queue is empty and nothing is in flight
    this.pending = 0; // bytes handed to the sink and not written yet
    this.onWritten = undefined; // called after each completed write
    this.onPending = undefined; // called with the bytes waiting for the file after each write()
  }

  write(chunk) {
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    this.pending += chunk.length;
    this.onPending?.(this.pending);
    if (this.batchBytes >= MiB) this.flush();
  }

  flush() {
    if (this.batchBytes === 0) return;
    this.queue.push({ buffers: this.batch, bytes: this.batchBytes, position: this.position });
    this.position += this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.pump();
  }

  pump() {
    while (this.inFlight < IN_FLIGHT && this.queue.length > 0) {
      const job = this.queue.shift();
      this.inFlight++;
      fs.writev(this.fd, job.buffers, job.position, (err, written) => {
        this.inFlight--;
        this.pending -= job.bytes;
        if (err) this.error ??= err;
        else if (written !== job.bytes) this.error ??= new Error(`short write: ${written} of ${job.bytes} bytes`);
        this.pump();
        this.onWritten?.();
        if (this.inFlight === 0 && this.queue.length === 0) this.idle?.();
      });
    }
  }

  /** Every byte written, then fsync and close. */
  async finish() {
    this.flush();
    if (this.inFlight > 0 || this.queue.length > 0) await new Promise((resolve) => (this.idle = resolve));
    try {
      if (this.error) throw this.error;
      await new Promise((resolve, reject) => fs.fsync(this.fd, (err) => (err ? reject(err) : resolve())));
    } finally {
      await new Promise((resolve) => fs.close(this.fd, () => resolve()));
    }
  }
}

module.exports = { FileSink };

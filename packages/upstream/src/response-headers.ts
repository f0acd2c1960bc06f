import type { Dispatcher } from 'undici';

export type ResponseHeaders = Dispatcher.ResponseData['headers'];

/** A header as one string (repeated headers joined with `, `). */
export function headerOf(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

export function flattenHeaders(headers: ResponseHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    const value = headerOf(headers, name);
    if (value !== undefined) flat[name.toLowerCase()] = value;
  }
  return flat;
}

export function contentLengthOf(headers: ResponseHeaders): number | undefined {
  const value = headerOf(headers, 'content-length');
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** `Content-Type` without parameters, lowercased; undefined when absent. */
export function mediaTypeOf(headers: ResponseHeaders): string | undefined {
  const value = headerOf(headers, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  return value === '' ? undefined : value;
}

// S3's XML: answers are written here element by element (escaped, in the
// order the S3 schema gives); request bodies (CompleteMultipartUpload,
// Delete, CreateBucketConfiguration) are parsed with fast-xml-parser, bounded
// in size by the caller, with entities and DOCTYPEs refused.
import { XMLParser } from 'fast-xml-parser';
import { s3Error } from './errors.js';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** A value of an element: text, a number, nested elements, or a list (the element repeated). */
export type XmlValue = string | number | boolean | null | undefined | XmlNode | XmlValue[];
export interface XmlNode {
  [name: string]: XmlValue;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    // Characters XML 1.0 cannot carry even escaped-as-text are written as references.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => `&#x${c.charCodeAt(0).toString(16)};`);
}

function element(name: string, value: XmlValue, out: string[]): void {
  if (value === undefined) return;
  if (Array.isArray(value)) {
    for (const item of value) element(name, item, out);
    return;
  }
  if (value === null) {
    out.push(`<${name}/>`);
    return;
  }
  if (typeof value === 'object') {
    out.push(`<${name}>`);
    for (const [child, v] of Object.entries(value)) element(child, v, out);
    out.push(`</${name}>`);
    return;
  }
  out.push(`<${name}>${escapeXml(String(value))}</${name}>`);
}

/** A whole document: `<?xml ...?><Root xmlns="...">children</Root>` (text children: the root's text). */
export function xmlDocument(root: string, children: XmlNode | string, options: { namespace?: boolean } = {}): string {
  // S3's error documents carry no namespace; its results do.
  const plain = options.namespace === false || root === 'Error';
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', plain ? `<${root}>` : `<${root} xmlns="${S3_NS}">`];
  if (typeof children === 'string') out.push(escapeXml(children));
  else for (const [name, value] of Object.entries(children)) element(name, value, out);
  out.push(`</${root}>`);
  return out.join('');
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  isArray: (name) => ['Part', 'Object'].includes(name),
});

/** Parses a request body; anything not XML (or with a DOCTYPE) is MalformedXML. */
export function parseXml(body: string): Record<string, unknown> {
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) throw s3Error('MalformedXML');
  try {
    const parsed = parser.parse(body, true) as unknown;
    if (!parsed || typeof parsed !== 'object') throw new Error('empty');
    return parsed as Record<string, unknown>;
  } catch {
    throw s3Error('MalformedXML');
  }
}

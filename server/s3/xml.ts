/** S3 XML in and out (fast-xml-parser): one builder, one parser, the S3 namespace. */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false });
const parser = new XMLParser({
  ignoreAttributes: true, parseTagValue: false, trimValues: false, isArray: (name) => ['Part', 'Object'].includes(name),
  // htmlEntities also decodes numeric character references: Go's SDK (rclone) sends ETags as &#34;…&#34;.
  processEntities: true, htmlEntities: true,
});

/** An XML document with one root element in the S3 namespace. */
export function xmlDoc(root: string, body: Record<string, unknown>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: { '@_xmlns': S3_NS, ...body } })}`;
}

/** An XML document without a namespace (errors). */
export function xmlPlain(root: string, body: Record<string, unknown>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: body })}`;
}

/** Parses a request body; undefined for malformed XML. */
export function parseXml(text: string): Record<string, unknown> | undefined {
  try {
    const v = parser.parse(text, true) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** S3 timestamps: ISO 8601 with milliseconds, UTC. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

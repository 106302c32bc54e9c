export interface WebmOptions {
  /** Grow the file to at least this many bytes with an EBML Void element inside the Segment. */
  padToBytes?: number;
}

/** EBML element: id bytes + an 8-byte size vint + payload. */
function element(id: number[], payload: Buffer): Buffer {
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(payload.length), 0);
  size[0] = (size[0] as number) | 0x01; // 8-byte vint marker (sizes < 2^56)
  return Buffer.concat([Buffer.from(id), size, payload]);
}

function uintElement(id: number[], value: number): Buffer {
  return Buffer.concat([Buffer.from(id), Buffer.from([0x81, value])]);
}

/**
 * A minimal WebM: the EBML header (magic 1A 45 DF A3, DocType "webm") and a Segment holding only a Void
 * element. Enough for magic-byte and DocType sniffing, not for playback.
 */
export function makeWebm(options: WebmOptions = {}): Buffer {
  const header = element(
    [0x1a, 0x45, 0xdf, 0xa3],
    Buffer.concat([
      uintElement([0x42, 0x86], 1), // EBMLVersion
      uintElement([0x42, 0xf7], 1), // EBMLReadVersion
      uintElement([0x42, 0xf2], 4), // EBMLMaxIDLength
      uintElement([0x42, 0xf3], 8), // EBMLMaxSizeLength
      Buffer.from([0x42, 0x82, 0x84]),
      Buffer.from('webm', 'latin1'), // DocType
      uintElement([0x42, 0x87], 2), // DocTypeVersion
      uintElement([0x42, 0x85], 2), // DocTypeReadVersion
    ]),
  );
  const overhead = header.length + 4 + 8 + 1 + 8; // Segment id+size, Void id+size
  const voidSize = Math.max(16, (options.padToBytes ?? 0) - overhead);
  const segment = element([0x18, 0x53, 0x80, 0x67], element([0xec], Buffer.alloc(voidSize)));
  return Buffer.concat([header, segment]);
}

/** Starts with the EBML magic 1A 45 DF A3. */
export function isEbml(buf: Buffer): boolean {
  return buf.length >= 4 && buf[0] === 0x1a && buf[1] === 0x45 && buf[2] === 0xdf && buf[3] === 0xa3;
}

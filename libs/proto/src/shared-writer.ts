/**
 * Serializers that encode every message of a process into one long-lived `BinaryWriter`.
 *
 * ts-proto's generated serializers (`Buffer.from(X.encode(value).finish())`) start each
 * message in a new 128-byte writer that doubles, copying, until the message fits (a 25 KB
 * RankRequest: nine buffers, 64 KB allocated and copied), then copy the result twice more
 * (`finish()` slices, `Buffer.from` copies the slice). The writer here keeps its grown
 * buffer between messages, so a message costs one slice of exactly its size. Encoding is
 * synchronous, so one writer per process serves every call; a message that fails to
 * encode, or one larger than {@link RETAINED_WRITER_BYTES}, leaves a fresh writer behind.
 * The bytes are the generated encoder's own (the same `encode` function writes them).
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';

/** A generated message type's encoder (ts-proto's `X.encode`). */
export interface MessageEncoder<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/** Messages above this many bytes do not keep the writer's buffer alive after them. */
export const RETAINED_WRITER_BYTES = 1024 * 1024;

/** gRPC's message prefix: one compression flag byte and a 4-byte big-endian length. */
const FRAME_PREFIX = new Uint8Array(5);

let writer = new BinaryWriter();

function encodeShared<T>(type: MessageEncoder<T>, value: T, framed: boolean): Buffer {
  let bytes: Uint8Array;
  try {
    if (framed) writer.raw(FRAME_PREFIX);
    type.encode(value, writer);
    bytes = writer.finish();
  } catch (err) {
    writer = new BinaryWriter();
    throw err;
  }
  if (bytes.length > RETAINED_WRITER_BYTES) writer = new BinaryWriter();
  const out = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (framed) out.writeUInt32BE(out.length - 5, 1);
  return out;
}

/** `type`'s messages as bytes, encoded in the shared writer (the generated serializer's bytes). */
export function sharedWriterSerializer<T>(type: MessageEncoder<T>): (value: T) => Buffer {
  return (value) => encodeShared(type, value, false);
}

/**
 * `type`'s messages as one gRPC length-prefixed message (flag 0, uncompressed), ready for
 * an HTTP/2 DATA frame: the prefix is written in the same buffer, so no second copy.
 */
export function sharedWriterFramedSerializer<T>(type: MessageEncoder<T>): (value: T) => Buffer {
  return (value) => encodeShared(type, value, true);
}

/** What the shared-writer serializers need of a generated grpc-js method definition. */
interface UnaryDefinition {
  requestSerialize(value: never): Buffer;
  responseSerialize(value: never): Buffer;
}

type RequestOf<M> = M extends { requestSerialize(value: infer Req): Buffer } ? Req : never;
type ResponseOf<M> = M extends { responseSerialize(value: infer Res): Buffer } ? Res : never;

/** For every method of a service, its request and response message types. */
export type ServiceMessageTypes<S> = { [K in keyof S]: readonly [MessageEncoder<RequestOf<S[K]>>, MessageEncoder<ResponseOf<S[K]>>] };

/** A method definition with the shared-writer serializers, and a framed request serializer. */
export type SharedWriterMethod<M> = M & { requestSerializeFramed(value: RequestOf<M>): Buffer };

/**
 * `definition` (a generated grpc-js service definition) with every method's request and
 * response serializers replaced by shared-writer ones of the given message types; the
 * deserializers and paths stay. `types` names each method's messages; the compiler checks
 * they are the method's own (a test checks each against the generated serializer).
 */
export function sharedWriterService<S extends Record<string, UnaryDefinition>>(
  definition: S,
  types: ServiceMessageTypes<S>,
): { [K in keyof S]: SharedWriterMethod<S[K]> } {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(definition)) {
    const [request, response] = types[key as keyof S];
    out[key] = {
      ...definition[key],
      requestSerialize: sharedWriterSerializer(request),
      requestSerializeFramed: sharedWriterFramedSerializer(request),
      responseSerialize: sharedWriterSerializer(response),
    };
  }
  return out as { [K in keyof S]: SharedWriterMethod<S[K]> };
}

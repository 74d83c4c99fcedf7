import * as fs from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema, type DescriptorProto } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError } from '@recsys/core';
import { reflectionV1, reflectionV1alpha } from '@recsys/proto';
import { decodeStrict } from './strict-decode';

type ReflectionRequest = reflectionV1.ServerReflectionRequest;
type ReflectionResponse = reflectionV1.ServerReflectionResponse;

/**
 * The files of a FileDescriptorSet, each kept as the exact bytes buf wrote, indexed by
 * file name and by every fully-qualified symbol they declare.
 *
 * Why not `@grpc/reflection`: it rebuilds descriptors from a proto-loader definition and
 * drops dependency lists and cross-file type references (grpc-node #2595, #3034), so
 * grpcurl can list services but not describe or call them. Serving the unmodified
 * descriptors avoids the whole class of problems.
 */
export class DescriptorIndex {
  private readonly files = new Map<string, { bytes: Uint8Array; deps: string[] }>();
  private readonly symbols = new Map<string, string>();
  private readonly extensions = new Map<string, Map<number, string>>();

  constructor(setBytes: Uint8Array) {
    // FileDescriptorSet = { repeated FileDescriptorProto file = 1; }: split the raw bytes.
    const reader = new BinaryReader(setBytes);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field !== 1 || wireType !== 2) {
        reader.skip(wireType);
        continue;
      }
      const bytes = reader.bytes();
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      this.files.set(file.name, { bytes, deps: file.dependency });
      const prefix = file.package ? `${file.package}.` : '';
      for (const m of file.messageType) this.indexMessage(prefix, m, file.name);
      for (const e of file.enumType) this.symbols.set(prefix + e.name, file.name);
      for (const s of file.service) {
        this.symbols.set(prefix + s.name, file.name);
        for (const method of s.method) this.symbols.set(`${prefix}${s.name}.${method.name}`, file.name);
      }
      for (const x of file.extension) this.indexExtension(x.extendee, x.number, file.name);
    }
  }

  /** Reads a descriptor set file (as written by `buf build -o`). */
  static fromFile(path: string): DescriptorIndex {
    return new DescriptorIndex(fs.readFileSync(path));
  }

  private indexMessage(prefix: string, m: DescriptorProto, file: string): void {
    const name = prefix + m.name;
    this.symbols.set(name, file);
    for (const f of m.field) this.symbols.set(`${name}.${f.name}`, file);
    for (const e of m.enumType) this.symbols.set(`${name}.${e.name}`, file);
    for (const x of m.extension) this.indexExtension(x.extendee, x.number, file);
    for (const n of m.nestedType) this.indexMessage(`${name}.`, n, file);
  }

  private indexExtension(extendee: string, num: number, file: string): void {
    const type = extendee.replace(/^\./, '');
    let byNumber = this.extensions.get(type);
    if (!byNumber) this.extensions.set(type, (byNumber = new Map()));
    byNumber.set(num, file);
  }

  /** True when `name` (e.g. `recsys.v1.GatewayService`) is declared in the set. */
  hasSymbol(name: string): boolean {
    return this.symbols.has(name);
  }

  /** The file and all its transitive dependencies, dependencies first. */
  fileWithDependencies(name: string): Uint8Array[] | undefined {
    if (!this.files.has(name)) return undefined;
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (n: string): void => {
      if (seen.has(n)) return;
      seen.add(n);
      const f = this.files.get(n);
      if (!f) return;
      for (const d of f.deps) visit(d);
      out.push(f.bytes);
    };
    visit(name);
    return out;
  }

  /** Names of the file and its transitive dependencies. */
  fileNamesWithDependencies(name: string): string[] {
    const out: string[] = [];
    const visit = (n: string): void => {
      if (out.includes(n) || !this.files.has(n)) return;
      out.push(n);
      for (const d of this.files.get(n)?.deps ?? []) visit(d);
    };
    visit(name);
    return out;
  }

  fileOfSymbol(symbol: string): string | undefined {
    return this.symbols.get(symbol.replace(/^\./, ''));
  }

  fileOfExtension(type: string, num: number): string | undefined {
    return this.extensions.get(type)?.get(num);
  }

  extensionNumbers(type: string): number[] | undefined {
    const m = this.extensions.get(type);
    if (!m) return this.symbols.has(type) ? [] : undefined;
    return [...m.keys()];
  }
}

/**
 * What reflection describes: `served` only the files declaring the services of this
 * process and what they import (the gateway then describes its public API, not the
 * internal services' contracts); `all` every file of the descriptor set.
 */
export type ReflectionScope = 'served' | 'all';

/** The files reflection may answer with: every file for `all`, else the closure of the files declaring `services`. */
export function reflectableFiles(index: DescriptorIndex, services: readonly string[], scope: ReflectionScope): Set<string> | undefined {
  if (scope === 'all') return undefined;
  const out = new Set<string>();
  for (const s of services) {
    const file = index.fileOfSymbol(s);
    if (file) for (const name of index.fileNamesWithDependencies(file)) out.add(name);
  }
  return out;
}

/** Answers one reflection request; pure, so it can be tested without a server. `allowed` limits the files answered (undefined = all). */
export function answerReflection(index: DescriptorIndex, services: readonly string[], req: ReflectionRequest, allowed?: ReadonlySet<string>): ReflectionResponse {
  const base: ReflectionResponse = { validHost: req.host, originalRequest: req };
  const files = (name: string | undefined, what: string): ReflectionResponse => {
    const list = name === undefined || (allowed && !allowed.has(name)) ? undefined : index.fileWithDependencies(name);
    if (!list) return { ...base, errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: `${what} not found` } };
    return { ...base, fileDescriptorResponse: { fileDescriptorProto: list.map((b) => Buffer.from(b)) } };
  };
  if (req.listServices !== undefined) {
    return { ...base, listServicesResponse: { service: services.map((name) => ({ name })) } };
  }
  if (req.fileByFilename !== undefined) return files(req.fileByFilename, `file ${req.fileByFilename}`);
  if (req.fileContainingSymbol !== undefined) {
    return files(index.fileOfSymbol(req.fileContainingSymbol), `symbol ${req.fileContainingSymbol}`);
  }
  if (req.fileContainingExtension !== undefined) {
    const { containingType, extensionNumber } = req.fileContainingExtension;
    return files(index.fileOfExtension(containingType, extensionNumber), `extension ${containingType}(${extensionNumber})`);
  }
  if (req.allExtensionNumbersOfType !== undefined) {
    const nums = index.extensionNumbers(req.allExtensionNumbersOfType);
    if (!nums || (allowed && !allowed.has(index.fileOfSymbol(req.allExtensionNumbersOfType) ?? ''))) {
      return { ...base, errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: `type ${req.allExtensionNumbersOfType} not found` } };
    }
    return { ...base, allExtensionNumbersResponse: { baseTypeName: req.allExtensionNumbersOfType, extensionNumber: nums } };
  }
  return { ...base, errorResponse: { errorCode: grpc.status.INVALID_ARGUMENT, errorMessage: 'empty reflection request' } };
}

/**
 * Registers `grpc.reflection.v1.ServerReflection` and its `v1alpha` twin on `server`,
 * answering from `index` and listing `services` (the fully-qualified names served).
 */
export function addReflection(server: grpc.Server, index: DescriptorIndex, services: readonly string[], scope: ReflectionScope = 'served'): void {
  const names = [...services, 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
  for (const name of names) {
    if (!index.hasSymbol(name)) throw new Error(`reflection: service ${name} is not in the descriptor set`);
  }
  const allowed = reflectableFiles(index, names, scope);
  // Requests arrive as raw bytes and are decoded here: bytes that do not decode end the
  // stream INVALID_ARGUMENT (grpc-js would answer INTERNAL for a failed deserializer).
  const decode = reflectionV1.ServerReflectionService.serverReflectionInfo.requestDeserialize;
  const handler = (call: grpc.ServerDuplexStream<Buffer, ReflectionResponse>): void => {
    let failed = false;
    call.on('data', (bytes: Buffer) => {
      if (failed) return;
      let req: ReflectionRequest;
      try {
        req = decodeStrict(decode, bytes);
      } catch (err) {
        failed = true;
        const details = err instanceof InvalidArgumentError ? err.message : `request: not a valid ServerReflectionRequest (${(err as Error).message})`;
        call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details });
        return;
      }
      call.write(answerReflection(index, names, req, allowed));
    });
    call.on('end', () => call.end());
    call.on('error', () => call.end());
  };
  const raw = <D extends Record<string, object>>(def: D): grpc.ServiceDefinition =>
    Object.fromEntries(Object.entries(def).map(([k, m]) => [k, { ...m, requestDeserialize: (b: Buffer) => b }])) as unknown as grpc.ServiceDefinition;
  server.addService(raw(reflectionV1.ServerReflectionService), { serverReflectionInfo: handler });
  // v1alpha has byte-identical messages; only the method path differs.
  server.addService(raw(reflectionV1alpha.ServerReflectionService), { serverReflectionInfo: handler });
}

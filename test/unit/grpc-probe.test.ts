/**
 * tools/grpc_probe.py, the project's own strict reflection client (Python gRPC on the C
 * core), against the kit's reflection server on port 0 serving descriptor sets made here:
 * a correct one with maps, proto3 optional, a oneof, a nested enum, a cross-file type and
 * a streaming method, and broken ones it must refuse with --strict, naming the fault.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { DescriptorIndex, addReflection, answerReflection } from '@recsys/grpc-kit';
import { REPO_ROOT } from '@recsys/local';
import { DESCRIPTOR_SET_PATH, reflectionV1alpha } from '@recsys/proto';

const execFileP = promisify(execFile);
const PROBE = path.join(REPO_ROOT, 'tools', 'grpc_probe.py');
const DURATION = 'google/protobuf/duration.proto';

jest.setTimeout(60_000);

/** The reflection and health files buf built, plus google/protobuf/duration.proto. */
function builtFiles(): FileDescriptorProto[] {
  const set = fromBinary(FileDescriptorSetSchema, fs.readFileSync(DESCRIPTOR_SET_PATH));
  return set.file.filter((f) => f.name.startsWith('grpc/') || f.name === DURATION);
}

/**
 * probe/v1/probe.proto, as protoc would write it:
 *   message Sample { map<string, int32> counts = 1; optional string nickname = 2;
 *     oneof choice { string text = 3; int64 number = 4; } google.protobuf.Duration wait = 5;
 *     Kind kind = 6; enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; } }
 *   service ProbeService { rpc Echo(Sample) returns (Sample); rpc Watch(Sample) returns (stream Sample); }
 */
function probeFile(): FileDescriptorProto {
  const opt = Label.OPTIONAL;
  return create(FileDescriptorProtoSchema, {
    name: 'probe/v1/probe.proto',
    package: 'probe.v1',
    syntax: 'proto3',
    dependency: [DURATION],
    messageType: [
      {
        name: 'Sample',
        field: [
          { name: 'counts', number: 1, label: Label.REPEATED, type: Type.MESSAGE, typeName: '.probe.v1.Sample.CountsEntry', jsonName: 'counts' },
          { name: 'nickname', number: 2, label: opt, type: Type.STRING, oneofIndex: 1, proto3Optional: true, jsonName: 'nickname' },
          { name: 'text', number: 3, label: opt, type: Type.STRING, oneofIndex: 0, jsonName: 'text' },
          { name: 'number', number: 4, label: opt, type: Type.INT64, oneofIndex: 0, jsonName: 'number' },
          { name: 'wait', number: 5, label: opt, type: Type.MESSAGE, typeName: '.google.protobuf.Duration', jsonName: 'wait' },
          { name: 'kind', number: 6, label: opt, type: Type.ENUM, typeName: '.probe.v1.Sample.Kind', jsonName: 'kind' },
        ],
        nestedType: [
          {
            name: 'CountsEntry',
            field: [
              { name: 'key', number: 1, label: opt, type: Type.STRING, jsonName: 'key' },
              { name: 'value', number: 2, label: opt, type: Type.INT32, jsonName: 'value' },
            ],
            options: { mapEntry: true },
          },
        ],
        enumType: [{ name: 'Kind', value: [{ name: 'KIND_UNSPECIFIED', number: 0 }, { name: 'KIND_A', number: 1 }] }],
        // Real oneofs first, then the synthetic one of the proto3 optional field.
        oneofDecl: [{ name: 'choice' }, { name: '_nickname' }],
      },
    ],
    service: [
      {
        name: 'ProbeService',
        method: [
          { name: 'Echo', inputType: '.probe.v1.Sample', outputType: '.probe.v1.Sample' },
          { name: 'Watch', inputType: '.probe.v1.Sample', outputType: '.probe.v1.Sample', serverStreaming: true },
        ],
      },
    ],
  });
}

const identity = (b: Buffer): Buffer => b;
const PROBE_SERVICE: grpc.ServiceDefinition = {
  Echo: { path: '/probe.v1.ProbeService/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

/**
 * A server on 127.0.0.1:0 with reflection over `files` (the kit's v1 and v1alpha, or
 * v1alpha alone as older servers have it) and an Echo that returns the request bytes.
 */
async function serve(files: FileDescriptorProto[], only?: 'v1alpha'): Promise<{ address: string; close: () => Promise<void> }> {
  const set = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: files }));
  const server = new grpc.Server();
  const index = new DescriptorIndex(set);
  if (only === 'v1alpha') {
    const names = ['probe.v1.ProbeService', 'grpc.reflection.v1alpha.ServerReflection'];
    server.addService(reflectionV1alpha.ServerReflectionService, {
      serverReflectionInfo: (call: grpc.ServerDuplexStream<reflectionV1alpha.ServerReflectionRequest, reflectionV1alpha.ServerReflectionResponse>) => {
        call.on('data', (req: reflectionV1alpha.ServerReflectionRequest) => call.write(answerReflection(index, names, req)));
        call.on('end', () => call.end());
      },
    });
  } else {
    addReflection(server, index, ['probe.v1.ProbeService']);
  }
  server.addService(PROBE_SERVICE, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

async function probe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP('/usr/bin/python3', [PROBE, ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as Error & { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Serves a copy of the correct files changed by `mutate` for the duration of `use`. */
async function withServer(mutate: (files: FileDescriptorProto[]) => FileDescriptorProto[], use: (address: string) => Promise<void>): Promise<void> {
  const s = await serve(mutate([...builtFiles(), probeFile()]));
  try {
    await use(s.address);
  } finally {
    await s.close();
  }
}

const sample = (files: FileDescriptorProto[]) => files.find((f) => f.name === 'probe/v1/probe.proto')!.messageType[0]!;

describe('grpc_probe.py --strict on correct descriptors', () => {
  let server: { address: string; close: () => Promise<void> };
  beforeAll(async () => {
    server = await serve([...builtFiles(), probeFile()]);
  });
  afterAll(async () => server?.close());

  it('lists the services and the methods of one, in declaration order', async () => {
    const all = await probe('--strict', server.address, 'list');
    expect(all).toEqual({ code: 0, stderr: '', stdout: 'grpc.reflection.v1.ServerReflection\ngrpc.reflection.v1alpha.ServerReflection\nprobe.v1.ProbeService\n' });
    const methods = await probe('--strict', server.address, 'list', 'probe.v1.ProbeService');
    expect(methods.stdout).toBe('probe.v1.ProbeService.Echo\nprobe.v1.ProbeService.Watch\n');
  });

  it('describes a message with a map, proto3 optional, a oneof, a cross-file type and a nested enum', async () => {
    const res = await probe('--strict', server.address, 'describe', 'probe.v1.Sample');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      [
        'probe.v1.Sample is a message (file probe/v1/probe.proto):',
        'message Sample {',
        '  map<string, int32> counts = 1;',
        '  optional string nickname = 2;',
        '  oneof choice {',
        '    string text = 3;',
        '    int64 number = 4;',
        '  }',
        '  .google.protobuf.Duration wait = 5;',
        '  .probe.v1.Sample.Kind kind = 6;',
        '  enum Kind {',
        '    KIND_UNSPECIFIED = 0;',
        '    KIND_A = 1;',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('describes services, methods (with / or .) and nested enums', async () => {
    const svc = await probe('--strict', server.address, 'describe', 'probe.v1.ProbeService');
    expect(svc.stdout).toContain('rpc Watch ( .probe.v1.Sample ) returns ( stream .probe.v1.Sample );');
    for (const m of ['probe.v1.ProbeService.Echo', 'probe.v1.ProbeService/Echo']) {
      const res = await probe('--strict', server.address, 'describe', m);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/^probe\.v1\.ProbeService\.Echo is a method/);
    }
    const kind = await probe('--strict', server.address, 'describe', 'probe.v1.Sample.Kind');
    expect(kind.stdout).toContain('enum Kind {');
  });

  it('calls with JSON and prints the answer in protobuf JSON (int64 as a string, a duration as "1.500s")', async () => {
    const request = { counts: { a: 1, b: 2 }, nickname: 'x', number: '9007199254740993', wait: '1.500s', kind: 'KIND_A' };
    const res = await probe('--strict', server.address, 'call', 'probe.v1.ProbeService/Echo', JSON.stringify(request));
    expect(res.stderr).toBe('');
    expect(JSON.parse(res.stdout)).toEqual({ ...request, wait: '1.500s' });
    const defaults = await probe(server.address, 'call', 'probe.v1.ProbeService/Echo', '{}', '--emit-defaults');
    expect(JSON.parse(defaults.stdout)).toMatchObject({ counts: {}, kind: 'KIND_UNSPECIFIED' });
  });

  it('refuses local mistakes with exit 2: bad JSON, unknown method, a streaming method, a bad option', async () => {
    const bad = await probe('--strict', server.address, 'call', 'probe.v1.ProbeService/Echo', '{"nope":1}');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a valid probe\.v1\.Sample.*nope/s);
    expect((await probe(server.address, 'call', 'probe.v1.ProbeService/Nope')).stderr).toMatch(/has no method 'Nope' \(it has Echo, Watch\)/);
    expect((await probe(server.address, 'call', 'probe.v1.ProbeService/Watch')).code).toBe(2);
    expect((await probe('--deadline-ms', '-1', server.address, 'list')).code).toBe(2);
    expect((await probe(server.address, 'frobnicate')).code).toBe(2);
  });

  it('reports what the server answers with exit 1: an unknown symbol is NOT_FOUND', async () => {
    const res = await probe('--strict', server.address, 'describe', 'probe.v1.Nothing');
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toBe('ERROR:\n  Code: NOT_FOUND\n  Message: symbol probe.v1.Nothing not found\n');
  });

  it('speaks v1alpha when asked, and falls back to it by itself when v1 is UNIMPLEMENTED', async () => {
    const res = await probe('--strict', '--reflection', 'v1alpha', server.address, 'describe', 'probe.v1.Sample');
    expect(res.code).toBe(0);
    const old = await serve([...builtFiles(), probeFile()], 'v1alpha');
    try {
      const auto = await probe('--strict', '-v', old.address, 'call', 'probe.v1.ProbeService/Echo', '{"text":"hi"}');
      expect(auto).toMatchObject({ code: 0 });
      expect(JSON.parse(auto.stdout)).toEqual({ text: 'hi' });
      expect(auto.stderr).toContain('grpc.reflection.v1 is UNIMPLEMENTED; trying v1alpha');
      const v1 = await probe('--strict', '--reflection', 'v1', old.address, 'list');
      expect(v1.code).toBe(1);
      expect(v1.stderr).toContain('Code: UNIMPLEMENTED');
    } finally {
      await old.close();
    }
  });
});

describe('grpc_probe.py --strict refuses descriptors a strict client cannot use, naming the fault', () => {
  it('a file whose dependency list was dropped (what @grpc/reflection serves)', async () => {
    await withServer(
      (files) => files.map((f) => (f.name === 'probe/v1/probe.proto' ? { ...f, dependency: [] } : f)),
      async (address) => {
        const res = await probe('--strict', address, 'describe', 'probe.v1.Sample');
        expect(res.code).toBe(1);
        expect(res.stderr).toContain('field probe.v1.Sample.wait: type .google.protobuf.Duration is declared neither in probe/v1/probe.proto nor in a file it imports');
      },
    );
  });

  it('a relative type name (accepted without --strict, where the pool resolves it by scope)', async () => {
    const relative = (files: FileDescriptorProto[]): FileDescriptorProto[] => {
      sample(files).field.find((f) => f.name === 'wait')!.typeName = 'google.protobuf.Duration';
      return files;
    };
    await withServer(relative, async (address) => {
      const strict = await probe('--strict', address, 'describe', 'probe.v1.Sample');
      expect(strict.code).toBe(1);
      expect(strict.stderr).toContain("field probe.v1.Sample.wait: type 'google.protobuf.Duration' is not fully qualified");
      const lenient = await probe(address, 'describe', 'probe.v1.Sample');
      expect(lenient.code).toBe(0);
      expect(lenient.stdout).toContain('.google.protobuf.Duration wait = 5;');
    });
  });

  it('an import reflection does not serve (without --strict a google/protobuf file is taken locally)', async () => {
    await withServer(
      (files) => files.filter((f) => f.name !== DURATION),
      async (address) => {
        const strict = await probe('--strict', address, 'describe', 'probe.v1.Sample');
        expect(strict.code).toBe(1);
        expect(strict.stderr).toContain("probe/v1/probe.proto imports 'google/protobuf/duration.proto', which reflection does not serve");
        expect((await probe(address, 'describe', 'probe.v1.Sample')).code).toBe(0);
      },
    );
  });

  it('a type used as the wrong kind, and a map entry with the wrong name', async () => {
    const wrongKind = (files: FileDescriptorProto[]): FileDescriptorProto[] => {
      sample(files).field.find((f) => f.name === 'kind')!.typeName = '.probe.v1.Sample';
      return files;
    };
    await withServer(wrongKind, async (address) => {
      const res = await probe('--strict', address, 'describe', 'probe.v1.Sample');
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('type .probe.v1.Sample is a message (in probe/v1/probe.proto), used as an enum');
    });
    const badEntry = (files: FileDescriptorProto[]): FileDescriptorProto[] => {
      const m = sample(files);
      m.nestedType[0]!.name = 'MapEntry_counts';
      m.field[0]!.typeName = '.probe.v1.Sample.MapEntry_counts';
      return files;
    };
    await withServer(badEntry, async (address) => {
      const res = await probe('--strict', address, 'describe', 'probe.v1.Sample');
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/probe\/v1\/probe\.proto does not build: .*probe\.v1\.Sample\.counts: map_entry/s);
    });
  });
});

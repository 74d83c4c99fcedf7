import * as fs from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { DescriptorIndex, answerReflection } from '@recsys/grpc-kit';
import { DESCRIPTOR_SET_PATH } from '@recsys/proto';

const index = DescriptorIndex.fromFile(DESCRIPTOR_SET_PATH);
const services = ['recsys.v1.GatewayService', 'grpc.health.v1.Health'];
const names = (files: Uint8Array[]): string[] => files.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);

describe('reflection from the buf descriptor set', () => {
  it('lists the services it is given', () => {
    const res = answerReflection(index, services, { host: '', listServices: '' });
    expect(res.listServicesResponse?.service.map((s) => s.name)).toEqual(services);
  });

  it('answers a symbol with its file and every dependency, dependencies first', () => {
    const res = answerReflection(index, services, { host: '', fileContainingSymbol: 'recsys.v1.GatewayService' });
    const files = res.fileDescriptorResponse?.fileDescriptorProto ?? [];
    // gateway.proto's google.api.http rules pull in google/api/annotations.proto and its own dependencies.
    expect(names(files)).toEqual([
      'google/api/http.proto',
      'google/protobuf/descriptor.proto',
      'google/api/annotations.proto',
      'google/protobuf/duration.proto',
      'recsys/v1/common.proto',
      'recsys/v1/gateway.proto',
    ]);
    const gateway = fromBinary(FileDescriptorProtoSchema, files[5] as Uint8Array);
    // The dependency list and the fully-qualified type names survive (what @grpc/reflection loses).
    expect(gateway.dependency).toEqual(['google/api/annotations.proto', 'google/protobuf/duration.proto', 'recsys/v1/common.proto']);
    const timing = gateway.messageType.find((m) => m.name === 'StageTiming');
    expect(timing?.field.find((f) => f.name === 'duration')?.typeName).toBe('.google.protobuf.Duration');
  });

  it('serves the descriptor bytes exactly as buf wrote them', () => {
    const raw = fs.readFileSync(DESCRIPTOR_SET_PATH);
    const res = answerReflection(index, services, { host: '', fileByFilename: 'recsys/v1/common.proto' });
    const bytes = res.fileDescriptorResponse?.fileDescriptorProto[0] as Uint8Array;
    expect(raw.includes(Buffer.from(bytes))).toBe(true);
  });

  it('finds methods, nested symbols and enums', () => {
    for (const symbol of ['recsys.v1.RankerService.Rank', 'recsys.v1.Stage', 'recsys.v1.CandidateSet', 'grpc.health.v1.Health']) {
      const res = answerReflection(index, services, { host: '', fileContainingSymbol: symbol });
      expect(res.fileDescriptorResponse?.fileDescriptorProto.length).toBeGreaterThan(0);
    }
  });

  it('answers NOT_FOUND for unknown symbols and files', () => {
    expect(answerReflection(index, services, { host: '', fileContainingSymbol: 'nope.Nothing' }).errorResponse?.errorCode).toBe(5);
    expect(answerReflection(index, services, { host: '', fileByFilename: 'nope.proto' }).errorResponse?.errorCode).toBe(5);
  });
});

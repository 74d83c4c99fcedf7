#!/usr/bin/python3
"""grpc_probe: a grpcurl-like client that sees a server only through gRPC reflection.

Usage (options may come before or after the command):

    grpc_probe.py [options] ADDR list [SERVICE]       services, or the methods of SERVICE
    grpc_probe.py [options] ADDR describe SYMBOL      service, method (pkg.Svc/M or pkg.Svc.M), message or enum
    grpc_probe.py [options] ADDR call pkg.Svc/Method [JSON | - | @file] [--emit-defaults]
    grpc_probe.py [options] ADDR health [SERVICE]     grpc.health.v1.Health/Check

Options:
    --strict                use the served descriptors as they are and check them the way a
                            strict client (grpcurl) needs them: every dependency served by
                            reflection, every type name fully qualified and declared in the
                            file or a file it imports, every file buildable
    -H KEY:VALUE            request metadata, repeatable (sent on every RPC, reflection too)
    --deadline-ms N         deadline of each RPC, the reflection stream included (default 10000; 0 = none)
    --tls                   TLS instead of plaintext; --cacert PEM verifies the server,
                            --cert PEM --key PEM present a client certificate (mTLS)
    --authority NAME        :authority and TLS server name
    --reflection V          auto (default: v1, then v1alpha if v1 is UNIMPLEMENTED), v1 or v1alpha
    --emit-defaults         call: print fields that hold their default value
    -v                      log reflection traffic on stderr

Exit codes: 0 done (health: SERVING); 1 the server failed: a gRPC error (printed as
"ERROR:\\n  Code: ...\\n  Message: ..."), descriptors a strict client cannot use, or a
health status other than SERVING; 2 a mistake on this side (arguments, request JSON,
unknown method, streaming method).

How it works, and why it is independent of the servers it checks: it runs on gRPC's C
core and the protobuf runtime of Debian's python3-grpcio and python3-protobuf (the
servers of this repository run grpc-js and protobufjs). Reflection and health messages
are encoded and decoded by the small wire codec below, so nothing about them comes from
the server's own definitions; the target's types are built from the FileDescriptorProtos
it serves, in a fresh descriptor pool, and requests and responses go through protobuf's
JSON mapping (lowerCamelCase names, int64 as strings). One reflection stream per run.
Without --strict, the one leniency is that a google/protobuf/*.proto the server does not
serve is taken from the local protobuf installation; nothing else is repaired.
Run it with /usr/bin/python3 (the pyenv python3 earlier on PATH may lack grpc).
"""

import os
import queue
import sys

# The C core's own log lines (e.g. of a refused TLS handshake) would mix with our output;
# failures are reported as ERROR: blocks instead. GRPC_VERBOSITY=ERROR brings them back.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import grpc  # noqa: E402 (after the environment it reads at import)
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

FieldProto = descriptor_pb2.FieldDescriptorProto


class UsageError(Exception):
    """A mistake on the caller's side: exit 2."""


class RpcFailure(Exception):
    """The server answered with a gRPC error (status name and message): exit 1."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class DescriptorProblem(Exception):
    """The served descriptors are not usable by a strict client: exit 1."""


def _status_name(number):
    for status in grpc.StatusCode:
        if status.value[0] == number:
            return status.name
    return str(number)


def _failure(err):
    code = err.code() if callable(getattr(err, "code", None)) else None
    details = err.details() if callable(getattr(err, "details", None)) else str(err)
    return RpcFailure(code.name if code is not None else "UNKNOWN", details or "")


# ---------------------------------------------------------------------------------
# Protobuf wire format, just enough for the reflection and health messages.
# ---------------------------------------------------------------------------------

def _varint(value):
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _length_delimited(field_number, payload):
    return _varint((field_number << 3) | 2) + _varint(len(payload)) + payload


def _read_varint(buf, pos):
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _wire_fields(buf):
    """Yields (field number, value) of a message: int for varints, bytes for length-delimited."""
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, pos = _read_varint(buf, pos)
        elif wire_type == 2:
            size, pos = _read_varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError(f"field {number} runs past the end of the message")
            value, pos = bytes(buf[pos:pos + size]), pos + size
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            value, pos = bytes(buf[pos:pos + width]), pos + width
        else:
            raise ValueError(f"unsupported wire type {wire_type} (field {number})")
        yield number, value


# grpc.reflection.v1 (and v1alpha, the same bytes) ServerReflectionRequest fields.
REQUEST_FIELD = {"file_by_filename": 3, "file_containing_symbol": 4, "list_services": 7}

REFLECTION_METHOD = {
    "v1": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "v1alpha": "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
}

HEALTH_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class ReflectionAnswer:
    """One ServerReflectionResponse: served files, listed services, or an error."""

    def __init__(self, raw):
        self.files, self.services, self.error = [], [], None
        for number, value in _wire_fields(raw):
            if number == 4:  # file_descriptor_response { repeated bytes file_descriptor_proto = 1; }
                self.files += [v for n, v in _wire_fields(value) if n == 1]
            elif number == 6:  # list_services_response { repeated ServiceResponse service = 1; }
                for n, service in _wire_fields(value):
                    if n == 1:
                        self.services += [v.decode("utf-8") for m, v in _wire_fields(service) if m == 1]
            elif number == 7:  # error_response { int32 error_code = 1; string error_message = 2; }
                code, message = 2, ""
                for n, v in _wire_fields(value):
                    if n == 1:
                        code = v
                    elif n == 2:
                        message = v.decode("utf-8")
                self.error = (code, message)


class ReflectionStream:
    """Requests and answers over one ServerReflectionInfo stream, as grpcurl does."""

    def __init__(self, channel, metadata, timeout, version, log):
        self.channel, self.metadata, self.timeout, self.log = channel, metadata, timeout, log
        self.version = None if version == "auto" else version
        self.auto = version == "auto"
        self.outbox = None
        self.answers = None

    def _open(self, version):
        self.outbox = queue.Queue()

        def requests(box=self.outbox):
            while True:
                item = box.get()
                if item is None:
                    return
                yield item

        call = self.channel.stream_stream(REFLECTION_METHOD[version],
                                          request_serializer=lambda b: b,
                                          response_deserializer=lambda b: b)
        self.answers = call(requests(), timeout=self.timeout, metadata=self.metadata)
        self.version = version

    def ask(self, kind, value):
        first = self.answers is None
        if first:
            self._open(self.version or "v1")
        request = _length_delimited(REQUEST_FIELD[kind], value.encode("utf-8"))
        self.log(f"{self.version} {kind} {value!r}")
        self.outbox.put(request)
        try:
            raw = next(self.answers)
        except StopIteration:
            raise RpcFailure("INTERNAL", "the reflection stream ended without answering")
        except grpc.RpcError as err:
            if first and self.auto and self.version == "v1" and err.code() == grpc.StatusCode.UNIMPLEMENTED:
                self.log("grpc.reflection.v1 is UNIMPLEMENTED; trying v1alpha")
                self.close()
                self._open("v1alpha")
                return self.ask(kind, value)
            raise _failure(err)
        try:
            answer = ReflectionAnswer(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise DescriptorProblem(f"reflection answer to {kind} {value!r} does not decode: {err}")
        if answer.error is not None:
            raise RpcFailure(_status_name(answer.error[0]), answer.error[1])
        return answer

    def close(self):
        if self.outbox is not None:
            self.outbox.put(None)
        if self.answers is not None:
            self.answers.cancel()
        self.outbox = self.answers = None


# ---------------------------------------------------------------------------------
# The served descriptors: fetched, checked, built into a private pool.
# ---------------------------------------------------------------------------------

def _declarations(fdp):
    """Every fully-qualified name a file declares -> 'message', 'enum', 'service' or 'method'."""
    out = {}
    prefix = fdp.package + "." if fdp.package else ""

    def message(m, scope):
        name = scope + m.name
        out[name] = "message"
        for e in m.enum_type:
            out[name + "." + e.name] = "enum"
        for n in m.nested_type:
            message(n, name + ".")

    for m in fdp.message_type:
        message(m, prefix)
    for e in fdp.enum_type:
        out[prefix + e.name] = "enum"
    for s in fdp.service:
        out[prefix + s.name] = "service"
        for m in s.method:
            out[f"{prefix}{s.name}.{m.name}"] = "method"
    return out


def _a(noun):
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _local_well_known(name):
    """google/protobuf/<x>.proto from the local protobuf package, or None."""
    if not name.startswith("google/protobuf/") or not name.endswith(".proto"):
        return None
    module = "google.protobuf." + name[len("google/protobuf/"):-len(".proto")].replace("/", ".") + "_pb2"
    try:
        __import__(module)
        local = descriptor_pool.Default().FindFileByName(name)
    except (ImportError, KeyError):
        return None
    fdp = descriptor_pb2.FileDescriptorProto()
    local.CopyToProto(fdp)
    return fdp


def message_class(descriptor):
    """The concrete class of a pool message type, on old and new protobuf releases."""
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(descriptor)
    return Descriptors.factory_of(descriptor.file.pool).GetPrototype(descriptor)


class Descriptors:
    """Files fetched through reflection, checked (with --strict) and built into one pool."""

    _factories = {}

    @classmethod
    def factory_of(cls, pool):
        if id(pool) not in cls._factories:
            cls._factories[id(pool)] = (pool, message_factory.MessageFactory(pool))
        return cls._factories[id(pool)][1]

    def __init__(self, stream, strict, log):
        self.stream, self.strict, self.log = stream, strict, log
        self.protos = {}    # file name -> FileDescriptorProto as served (or the local copy)
        self.local = set()  # files taken from the local protobuf package
        self.built = set()  # files already in the pool
        self.pool = descriptor_pool.DescriptorPool()

    def _take(self, answer):
        names = []
        for raw in answer.files:
            try:
                fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
            except Exception as err:  # DecodeError
                raise DescriptorProblem(f"a served FileDescriptorProto does not decode: {err}")
            self.protos.setdefault(fdp.name, fdp)
            names.append(fdp.name)
        return names

    def file_declaring(self, symbol):
        """Asks file_containing_symbol and returns the served file that declares `symbol`."""
        names = self._take(self.stream.ask("file_containing_symbol", symbol))
        self.log(f"  -> {names}")
        for name in names:
            if symbol in _declarations(self.protos[name]):
                return name
        raise DescriptorProblem(f"file_containing_symbol {symbol!r} was answered with {names or 'no files'}, "
                                "none of which declares it")

    def _fetch(self, name, needed_by):
        if name in self.protos:
            return
        try:
            self._take(self.stream.ask("file_by_filename", name))
        except RpcFailure as err:
            if err.code not in ("NOT_FOUND", "INVALID_ARGUMENT", "UNKNOWN"):
                raise
            self.log(f"  file_by_filename {name!r}: {err}")
        if name in self.protos:
            return
        if not self.strict:
            local = _local_well_known(name)
            if local is not None:
                self.log(f"  {name}: not served; using the local protobuf copy")
                self.protos[name] = local
                self.local.add(name)
                return
        raise DescriptorProblem(f"{needed_by} imports {name!r}, which reflection does not serve")

    def _visible(self, name):
        """The file, its imports and, transitively, their public imports (protobuf's visibility)."""
        seen, todo = {name}, list(self.protos[name].dependency)
        while todo:
            dep = todo.pop()
            if dep in seen:
                continue
            seen.add(dep)
            fdp = self.protos.get(dep)
            if fdp is not None:
                todo += [fdp.dependency[i] for i in fdp.public_dependency if i < len(fdp.dependency)]
        return seen

    def _check(self, name):
        """The checks of --strict, each naming the file and the element at fault."""
        fdp = self.protos[name]
        declared = {}
        for visible in self._visible(name):
            for symbol, kind in _declarations(self.protos[visible]).items():
                declared.setdefault(symbol, (kind, visible))
        problems = []

        def reference(where, type_name, want):
            if not type_name.startswith("."):
                problems.append(f"{where}: type {type_name!r} is not fully qualified")
                return
            found = declared.get(type_name[1:])
            if found is None:
                problems.append(f"{where}: type {type_name} is declared neither in {name} "
                                f"nor in a file it imports ({', '.join(fdp.dependency) or 'it imports none'})")
            elif want is not None and found[0] != want:
                problems.append(f"{where}: type {type_name} is {_a(found[0])} (in {found[1]}), used as {_a(want)}")

        def field(f, scope):
            where = f"{name}: field {scope}.{f.name}"
            want = {FieldProto.TYPE_MESSAGE: "message", FieldProto.TYPE_GROUP: "message",
                    FieldProto.TYPE_ENUM: "enum"}.get(f.type) if f.HasField("type") else None
            if f.type_name:
                reference(where, f.type_name, want)
            elif want is not None:
                problems.append(f"{where}: {FieldProto.Type.Name(f.type).lower()} field without a type name")
            if f.extendee:
                reference(f"{where} (extendee)", f.extendee, "message")

        def message(m, scope):
            full = scope + m.name
            for f in list(m.field) + list(m.extension):
                field(f, full)
            for n in m.nested_type:
                message(n, full + ".")

        prefix = fdp.package + "." if fdp.package else ""
        for m in fdp.message_type:
            message(m, prefix)
        for f in fdp.extension:
            field(f, fdp.package)
        for s in fdp.service:
            for m in s.method:
                where = f"{name}: rpc {prefix}{s.name}.{m.name}"
                reference(f"{where} input", m.input_type, "message")
                reference(f"{where} output", m.output_type, "message")
        if problems:
            raise DescriptorProblem("; ".join(problems))

    def build(self, name, path=()):
        """Fetches `name` and everything it imports, checks them, adds them to the pool."""
        if name in self.built:
            return
        if name in path:
            raise DescriptorProblem("import cycle: " + " -> ".join(path + (name,)))
        self._fetch(name, path[-1] if path else "the symbol")
        for dep in self.protos[name].dependency:
            self._fetch(dep, name)
            self.build(dep, path + (name,))
        if self.strict:
            self._check(name)
        try:
            self.pool.AddSerializedFile(self.protos[name].SerializeToString())
        except Exception as err:  # TypeError (C++ pool) or ValueError/KeyError (pure Python)
            raise DescriptorProblem(f"{name} does not build: {err}")
        self.built.add(name)

    def find(self, symbol):
        """(kind, pool descriptor, file name) of a service, method, message or enum."""
        symbol = symbol.strip().lstrip("./").replace("/", ".")
        if not symbol:
            raise UsageError("empty symbol")
        try:
            name = self.file_declaring(symbol)
        except RpcFailure as err:
            # A server need not index method names: look the service up instead.
            if "." not in symbol or err.code != "NOT_FOUND":
                raise
            try:
                name = self.file_declaring(symbol.rsplit(".", 1)[0])
            except RpcFailure:
                raise err from None
        self.build(name)
        kind = _declarations(self.protos[name]).get(symbol)
        if kind == "service":
            return kind, self.pool.FindServiceByName(symbol), name
        if kind == "method":
            service, method = symbol.rsplit(".", 1)
            return kind, self.pool.FindServiceByName(service).methods_by_name[method], name
        if kind == "message":
            return kind, self.pool.FindMessageTypeByName(symbol), name
        if kind == "enum":
            return kind, self.pool.FindEnumTypeByName(symbol), name
        raise RpcFailure("NOT_FOUND", f"{symbol} is not a service, method, message or enum of {name}")


# ---------------------------------------------------------------------------------
# describe: proto source reconstructed from the served descriptors, with their comments.
# ---------------------------------------------------------------------------------

class Renderer:
    """Writes .proto-like text for pool descriptors, with the comments the file carries."""

    def __init__(self, descriptors):
        self.d = descriptors

    def _comments(self, file_name):
        """Leading comments of one file by element path (the source_code_info paths)."""
        fdp = self.d.protos[file_name]
        return {tuple(loc.path): loc.leading_comments for loc in fdp.source_code_info.location
                if loc.leading_comments}

    @staticmethod
    def _comment_lines(text, indent):
        if not text:
            return []
        # protoc keeps the text after "//", leading space included.
        return [f"{indent}//{line.rstrip()}" for line in text.rstrip("\n").split("\n")]

    def _locate(self, full_name, file_name):
        """(proto element, source path) of a message, enum or service of a file."""
        fdp = self.d.protos[file_name]
        prefix = fdp.package + "." if fdp.package else ""

        def in_message(m, path, scope):
            name = scope + m.name
            if name == full_name:
                return m, path
            for i, e in enumerate(m.enum_type):
                if f"{name}.{e.name}" == full_name:
                    return e, path + (4, i)
            for i, n in enumerate(m.nested_type):
                hit = in_message(n, path + (3, i), name + ".")
                if hit:
                    return hit
            return None

        for i, m in enumerate(fdp.message_type):
            hit = in_message(m, (4, i), prefix)
            if hit:
                return hit
        for i, e in enumerate(fdp.enum_type):
            if prefix + e.name == full_name:
                return e, (5, i)
        for i, s in enumerate(fdp.service):
            if prefix + s.name == full_name:
                return s, (6, i)
        raise KeyError(full_name)

    @staticmethod
    def _scalar(field_type):
        return FieldProto.Type.Name(field_type)[len("TYPE_"):].lower()

    def _type(self, fd):
        """The type of a pool field, with message and enum types fully qualified."""
        if fd.message_type is not None:
            entry = fd.message_type
            if entry.GetOptions().map_entry:
                key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
                return f"map<{self._type(key)}, {self._type(value)}>"
            return "." + entry.full_name
        if fd.enum_type is not None:
            return "." + fd.enum_type.full_name
        return self._scalar(fd.type)

    def message(self, descriptor, file_name, indent=""):
        proto, path = self._locate(descriptor.full_name, file_name)
        comments = self._comments(file_name)
        syntax = self.d.protos[file_name].syntax or "proto2"
        out = self._comment_lines(comments.get(path), indent)
        out.append(f"{indent}message {proto.name} {{")
        open_oneof = None
        for i, f in enumerate(proto.field):
            fd = descriptor.fields_by_name[f.name]
            real_oneof = f.HasField("oneof_index") and not f.proto3_optional
            if open_oneof is not None and (not real_oneof or f.oneof_index != open_oneof):
                out.append(f"{indent}  }}")
                open_oneof = None
            inner = indent + "  "
            if real_oneof:
                if open_oneof is None:
                    open_oneof = f.oneof_index
                    oneof_path = path + (8, f.oneof_index)
                    out += self._comment_lines(comments.get(oneof_path), inner)
                    out.append(f"{inner}oneof {proto.oneof_decl[f.oneof_index].name} {{")
                inner += "  "
            is_map = fd.message_type is not None and fd.message_type.GetOptions().map_entry
            if is_map or real_oneof:
                label = ""
            elif f.label == FieldProto.LABEL_REPEATED:
                label = "repeated "
            elif f.label == FieldProto.LABEL_REQUIRED:
                label = "required "
            elif f.proto3_optional or syntax == "proto2":
                label = "optional "
            else:
                label = ""
            out += self._comment_lines(comments.get(path + (2, i)), inner)
            out.append(f"{inner}{label}{self._type(fd)} {f.name} = {f.number};")
        if open_oneof is not None:
            out.append(f"{indent}  }}")
        for nested in descriptor.nested_types:
            if not nested.GetOptions().map_entry:
                out += self.message(nested, file_name, indent + "  ")
        for enum in descriptor.enum_types:
            out += self.enum(enum, file_name, indent + "  ")
        out.append(f"{indent}}}")
        return out

    def enum(self, descriptor, file_name, indent=""):
        proto, path = self._locate(descriptor.full_name, file_name)
        comments = self._comments(file_name)
        out = self._comment_lines(comments.get(path), indent)
        out.append(f"{indent}enum {proto.name} {{")
        for i, v in enumerate(proto.value):
            out += self._comment_lines(comments.get(path + (2, i)), indent + "  ")
            out.append(f"{indent}  {v.name} = {v.number};")
        out.append(f"{indent}}}")
        return out

    @staticmethod
    def rpc(method):
        streams_in = "stream " if method.client_streaming else ""
        streams_out = "stream " if method.server_streaming else ""
        return (f"rpc {method.name} ( {streams_in}.{method.input_type.full_name} ) "
                f"returns ( {streams_out}.{method.output_type.full_name} );")

    def service(self, descriptor, file_name):
        proto, path = self._locate(descriptor.full_name, file_name)
        comments = self._comments(file_name)
        out = self._comment_lines(comments.get(path), "")
        out.append(f"service {proto.name} {{")
        for i, m in enumerate(descriptor.methods):
            out += self._comment_lines(comments.get(path + (2, i)), "  ")
            out.append("  " + self.rpc(m))
        out.append("}")
        return out

    def method(self, descriptor, file_name):
        service_proto, path = self._locate(descriptor.containing_service.full_name, file_name)
        index = [m.name for m in service_proto.method].index(descriptor.name)
        out = self._comment_lines(self._comments(file_name).get(path + (2, index)), "")
        out.append(self.rpc(descriptor))
        for t in (descriptor.input_type, descriptor.output_type):
            out += ["", f"{t.full_name}:"] + self.message(t, t.file.name)
        return out


def describe(descriptors, kind, descriptor, file_name):
    r = Renderer(descriptors)
    if kind == "service":
        head, body = f"{descriptor.full_name} is a service (file {file_name}):", r.service(descriptor, file_name)
    elif kind == "method":
        head = (f"{descriptor.containing_service.full_name}.{descriptor.name} is a method "
                f"(call it as {descriptor.containing_service.full_name}/{descriptor.name}):")
        body = r.method(descriptor, file_name)
    elif kind == "message":
        head, body = f"{descriptor.full_name} is a message (file {file_name}):", r.message(descriptor, file_name)
    else:
        head, body = f"{descriptor.full_name} is an enum (file {file_name}):", r.enum(descriptor, file_name)
    return "\n".join([head] + body)


# ---------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------

def cmd_list(descriptors, stream, service):
    if not service:
        for name in sorted(stream.ask("list_services", "*").services):
            print(name)
        return EXIT_OK
    kind, d, _ = descriptors.find(service)
    if kind != "service":
        raise UsageError(f"{service} is {_a(kind)}, not a service")
    for m in d.methods:
        print(f"{d.full_name}.{m.name}")
    return EXIT_OK


def cmd_describe(descriptors, symbol):
    print(describe(descriptors, *descriptors.find(symbol)))
    return EXIT_OK


def _read_request(data):
    if data == "-":
        return sys.stdin.read()
    if data.startswith("@"):
        try:
            with open(data[1:], encoding="utf-8") as fh:
                return fh.read()
        except OSError as err:
            raise UsageError(f"cannot read the request file {data[1:]!r}: {err.strerror}")
    return data


def _to_json(message, pool, emit_defaults):
    options = dict(indent=2, descriptor_pool=pool, including_default_value_fields=emit_defaults)
    try:
        return json_format.MessageToJson(message, ensure_ascii=False, **options)
    except TypeError:
        # protobuf >= 5.26 renamed the option.
        options.pop("including_default_value_fields")
        return json_format.MessageToJson(message, ensure_ascii=False,
                                         always_print_fields_with_no_presence=emit_defaults, **options)


def cmd_call(descriptors, channel, metadata, timeout, target, data, emit_defaults):
    path = target.strip().lstrip("/")
    if "/" in path:
        service, method = path.rsplit("/", 1)
    elif "." in path:
        service, method = path.rsplit(".", 1)
    else:
        raise UsageError(f"method {target!r} must look like pkg.Service/Method")
    kind, svc, _ = descriptors.find(service)
    if kind != "service":
        raise UsageError(f"{service} is {_a(kind)}, not a service")
    md = svc.methods_by_name.get(method)
    if md is None:
        raise UsageError(f"{service} has no method {method!r} (it has {', '.join(m.name for m in svc.methods)})")
    if md.client_streaming or md.server_streaming:
        raise UsageError(f"{service}/{method} is a streaming method; call handles unary methods only")
    request_class, response_class = message_class(md.input_type), message_class(md.output_type)
    text = _read_request(data)
    try:
        request = json_format.Parse(text.strip() or "{}", request_class(), descriptor_pool=descriptors.pool)
    except json_format.ParseError as err:
        raise UsageError(f"request JSON is not a valid {md.input_type.full_name}: {err}")
    rpc = channel.unary_unary(f"/{svc.full_name}/{md.name}",
                              request_serializer=request_class.SerializeToString,
                              response_deserializer=response_class.FromString)
    try:
        response = rpc(request, timeout=timeout, metadata=metadata)
    except grpc.RpcError as err:
        raise _failure(err)
    print(_to_json(response, descriptors.pool, emit_defaults))
    return EXIT_OK


def cmd_health(channel, metadata, timeout, service):
    check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                request_serializer=lambda b: b, response_deserializer=lambda b: b)
    request = _length_delimited(1, service.encode("utf-8")) if service else b""
    try:
        raw = check(request, timeout=timeout, metadata=metadata)
    except grpc.RpcError as err:
        raise _failure(err)
    status = 0
    for number, value in _wire_fields(raw):
        if number == 1 and isinstance(value, int):
            status = value
    name = HEALTH_STATUS.get(status, str(status))
    print(name)
    return EXIT_OK if name == "SERVING" else EXIT_FAILED


# ---------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------

VALUE_OPTIONS = {"-H": "header", "--header": "header", "--deadline-ms": "deadline_ms",
                 "--cacert": "cacert", "--cert": "cert", "--key": "key",
                 "--authority": "authority", "--reflection": "reflection"}
FLAG_OPTIONS = {"--strict": "strict", "--tls": "tls", "-v": "verbose", "--verbose": "verbose",
                "--emit-defaults": "emit_defaults"}
COMMAND_ARGS = {"list": (0, 1), "describe": (1, 1), "call": (1, 2), "health": (0, 1)}


class Options:
    def __init__(self):
        self.header, self.deadline_ms, self.reflection = [], 10000, "auto"
        self.cacert = self.cert = self.key = self.authority = None
        self.strict = self.tls = self.verbose = self.emit_defaults = False
        self.positionals = []


def parse_args(argv):
    o = Options()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(EXIT_OK)
        if arg == "--":
            o.positionals += args
            break
        name, value = (arg.split("=", 1) + [None])[:2] if arg.startswith("--") else (arg, None)
        if name in FLAG_OPTIONS and value is None:
            setattr(o, FLAG_OPTIONS[name], True)
        elif name in VALUE_OPTIONS:
            if value is None:
                if not args:
                    raise UsageError(f"{name} needs a value")
                value = args.pop(0)
            key = VALUE_OPTIONS[name]
            if key == "header":
                o.header.append(value)
            else:
                setattr(o, key, value)
        elif arg.startswith("-") and arg not in ("-",):
            raise UsageError(f"unknown option {arg!r} (see --help)")
        else:
            o.positionals.append(arg)
    try:
        o.deadline_ms = int(o.deadline_ms)
        if o.deadline_ms < 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"--deadline-ms must be an integer >= 0, got {o.deadline_ms!r}")
    if o.reflection not in ("auto", "v1", "v1alpha"):
        raise UsageError(f"--reflection must be auto, v1 or v1alpha, got {o.reflection!r}")
    if (o.cert is None) != (o.key is None):
        raise UsageError("--cert and --key go together")
    if (o.cacert or o.cert) and not o.tls:
        raise UsageError("--cacert, --cert and --key need --tls")
    if len(o.positionals) < 2:
        raise UsageError("usage: grpc_probe.py [options] ADDR list|describe|call|health ... (see --help)")
    command = o.positionals[1]
    if command not in COMMAND_ARGS:
        raise UsageError(f"unknown command {command!r}: list, describe, call or health")
    low, high = COMMAND_ARGS[command]
    given = len(o.positionals) - 2
    if not low <= given <= high:
        raise UsageError(f"{command} takes {low if low == high else f'{low} to {high}'} argument(s), got {given}")
    if o.emit_defaults and command != "call":
        raise UsageError("--emit-defaults applies to call only")
    return o


def metadata_of(headers):
    out = []
    for h in headers:
        if ":" not in h:
            raise UsageError(f"-H {h!r} is not KEY:VALUE")
        key, value = h.split(":", 1)
        key = key.strip().lower()
        if not key:
            raise UsageError(f"-H {h!r} has an empty key")
        out.append((key, value.strip()))
    return out


def _read_pem(path, what):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as err:
        raise UsageError(f"cannot read {what} {path!r}: {err.strerror}")


def open_channel(o, address):
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    if o.authority:
        options.append(("grpc.default_authority", o.authority))
    if not o.tls:
        return grpc.insecure_channel(address, options=options)
    if o.authority:
        options.append(("grpc.ssl_target_name_override", o.authority))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read_pem(o.cacert, "--cacert") if o.cacert else None,
        private_key=_read_pem(o.key, "--key") if o.key else None,
        certificate_chain=_read_pem(o.cert, "--cert") if o.cert else None)
    return grpc.secure_channel(address, credentials, options=options)


def main(argv):
    try:
        return run(argv)
    except BrokenPipeError:  # e.g. piped into head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def run(argv):
    try:
        o = parse_args(argv)
        metadata = metadata_of(o.header)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    address, command, rest = o.positionals[0], o.positionals[1], o.positionals[2:]
    timeout = o.deadline_ms / 1000.0 if o.deadline_ms > 0 else None

    def log(line):
        if o.verbose:
            print(f"[reflection] {line}", file=sys.stderr)

    stream = None
    try:
        with open_channel(o, address) as channel:
            if command == "health":
                return cmd_health(channel, metadata, timeout, rest[0] if rest else "")
            stream = ReflectionStream(channel, metadata, timeout, o.reflection, log)
            descriptors = Descriptors(stream, o.strict, log)
            try:
                if command == "list":
                    return cmd_list(descriptors, stream, rest[0] if rest else None)
                if command == "describe":
                    return cmd_describe(descriptors, rest[0])
                return cmd_call(descriptors, channel, metadata, timeout, rest[0],
                                rest[1] if len(rest) > 1 else "{}", o.emit_defaults)
            finally:
                stream.close()
    except RpcFailure as err:
        print(f"ERROR:\n  Code: {err.code}\n  Message: {err.message}", file=sys.stderr)
        return EXIT_FAILED
    except DescriptorProblem as err:
        print(f"error: served descriptors{' (--strict)' if o.strict else ''}: {err}", file=sys.stderr)
        return EXIT_FAILED
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

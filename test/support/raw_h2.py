#!/usr/bin/python3
"""Raw HTTP/2 client for the hardening tests: frames written by hand with hyperframe and
hpack (Debian python3-h2), so the client obeys none of the limits a gRPC library keeps.

  raw_h2.py streams HOST PORT PATH COUNT   open COUNT half-open streams (HEADERS, no END_STREAM,
                                           never a DATA frame) on one connection, ignoring
                                           SETTINGS_MAX_CONCURRENT_STREAMS; report what came back
  raw_h2.py pings HOST PORT COUNT          send COUNT PINGs back to back on an idle connection
  raw_h2.py noread HOST PORT PATH HEX COUNT SECONDS
                                           a client that never reads: flow-control window 0, a
                                           small receive buffer, COUNT complete calls (the gRPC
                                           message HEX), then SECONDS without reading a byte

Prints one JSON line: the server's SETTINGS, RST_STREAM counts by error code, GOAWAY.
"""
import json
import socket
import sys
import time

from hpack import Encoder
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame

PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'


def read_frames(sock, report, until):
    buf = b''
    sock.settimeout(0.2)
    while time.time() < until:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            report['closed'] = True
            break
        if not chunk:
            report['closed'] = True
            break
        buf += chunk
        while len(buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            frame.parse_body(memoryview(buf[9:9 + length]))
            buf = buf[9 + length:]
            if isinstance(frame, SettingsFrame) and 'ACK' not in frame.flags:
                report['settings'] = {str(k): v for k, v in frame.settings.items()}
                sock.sendall(SettingsFrame(0, flags=['ACK']).serialize())
            elif isinstance(frame, RstStreamFrame):
                key = str(frame.error_code)
                report['rst'][key] = report['rst'].get(key, 0) + 1
            elif isinstance(frame, GoAwayFrame):
                # The first GOAWAY says why; a closing session may send another.
                if report['goaway'] is None:
                    report['goaway'] = {'error_code': frame.error_code, 'debug': frame.additional_data.decode('latin-1')}
            elif isinstance(frame, PingFrame) and 'ACK' in frame.flags:
                report['ping_acks'] += 1
    return report


def connect(host, port):
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(PREFACE + SettingsFrame(0).serialize())
    return sock


def streams(host, port, path, count):
    sock = connect(host, port)
    report = {'settings': None, 'rst': {}, 'goaway': None, 'closed': False, 'ping_acks': 0, 'sent': 0}
    read_frames(sock, report, time.time() + 0.5)
    enc = Encoder()
    headers = [(':method', 'POST'), (':scheme', 'http'), (':path', path), (':authority', f'{host}:{port}'),
               ('content-type', 'application/grpc'), ('te', 'trailers')]
    for i in range(int(count)):
        f = HeadersFrame(1 + 2 * i, enc.encode(headers), flags=['END_HEADERS'])
        try:
            sock.sendall(f.serialize())
        except OSError:
            report['closed'] = True
            break
        report['sent'] += 1
        if i % 200 == 199:
            read_frames(sock, report, time.time() + 0.01)
    read_frames(sock, report, time.time() + 2)
    print(json.dumps(report))


def pings(host, port, count):
    sock = connect(host, port)
    report = {'settings': None, 'rst': {}, 'goaway': None, 'closed': False, 'ping_acks': 0, 'sent': 0}
    read_frames(sock, report, time.time() + 0.3)
    for i in range(int(count)):
        try:
            sock.sendall(PingFrame(0, opaque_data=i.to_bytes(8, 'big')).serialize())
        except OSError:
            report['closed'] = True
            break
        report['sent'] += 1
    read_frames(sock, report, time.time() + 2)
    print(json.dumps(report))


def noread(host, port, path, hex_message, count, seconds):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    # SETTINGS_INITIAL_WINDOW_SIZE (4) = 0: the server may not send one byte of any response.
    sock.sendall(PREFACE + SettingsFrame(0, settings={4: 0}).serialize())
    body = bytes.fromhex(hex_message)
    message = b'\x00' + len(body).to_bytes(4, 'big') + body
    enc = Encoder()
    headers = [(':method', 'POST'), (':scheme', 'http'), (':path', path), (':authority', f'{host}:{port}'),
               ('content-type', 'application/grpc'), ('te', 'trailers')]
    report = {'sent': 0, 'closed': False}
    for i in range(int(count)):
        try:
            sock.sendall(HeadersFrame(1 + 2 * i, enc.encode(headers), flags=['END_HEADERS']).serialize()
                         + DataFrame(1 + 2 * i, message, flags=['END_STREAM']).serialize())
        except OSError:
            report['closed'] = True
            break
        report['sent'] += 1
    time.sleep(float(seconds))
    sock.close()
    print(json.dumps(report))


if __name__ == '__main__':
    cmd, *rest = sys.argv[1:]
    {'streams': streams, 'pings': pings, 'noread': noread}[cmd](*rest)

import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '@recsys/core';

/** The TLS settings of {@link commonConfig} (empty strings = unset). */
export interface TlsSettings {
  TLS_CERT_FILE: string;
  TLS_KEY_FILE: string;
  TLS_CA_FILE: string;
  TLS_CLIENT_AUTH: boolean;
}

function readPem(variable: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(variable, `cannot read "${file}": ${(err as Error).message}`);
  }
}

/**
 * Server credentials for the TLS settings: plaintext when no certificate is configured,
 * TLS with TLS_CERT_FILE/TLS_KEY_FILE, mutual TLS when TLS_CLIENT_AUTH also asks for client
 * certificates signed by TLS_CA_FILE.
 * @throws ConfigError naming the variable that is missing or unreadable
 */
export function serverCredentials(tls: TlsSettings): grpc.ServerCredentials {
  if (!tls.TLS_CERT_FILE && !tls.TLS_KEY_FILE) {
    if (tls.TLS_CLIENT_AUTH) throw new ConfigError('TLS_CLIENT_AUTH', 'needs TLS_CERT_FILE and TLS_KEY_FILE (mutual TLS is TLS first)');
    return grpc.ServerCredentials.createInsecure();
  }
  if (!tls.TLS_CERT_FILE) throw new ConfigError('TLS_CERT_FILE', 'must be set when TLS_KEY_FILE is');
  if (!tls.TLS_KEY_FILE) throw new ConfigError('TLS_KEY_FILE', 'must be set when TLS_CERT_FILE is');
  if (tls.TLS_CLIENT_AUTH && !tls.TLS_CA_FILE) throw new ConfigError('TLS_CA_FILE', 'must be set when TLS_CLIENT_AUTH=true (it verifies client certificates)');
  const ca = tls.TLS_CA_FILE ? readPem('TLS_CA_FILE', tls.TLS_CA_FILE) : null;
  return grpc.ServerCredentials.createSsl(
    ca,
    [{ cert_chain: readPem('TLS_CERT_FILE', tls.TLS_CERT_FILE), private_key: readPem('TLS_KEY_FILE', tls.TLS_KEY_FILE) }],
    tls.TLS_CLIENT_AUTH,
  );
}

/**
 * Channel credentials for calls into the mesh: plaintext without TLS_CA_FILE; otherwise TLS
 * verifying the servers against TLS_CA_FILE, presenting TLS_CERT_FILE/TLS_KEY_FILE as the
 * client certificate when they are set (needed by servers with TLS_CLIENT_AUTH).
 * @throws ConfigError naming the variable that is unreadable
 */
export function channelCredentials(tls: TlsSettings): grpc.ChannelCredentials {
  const pem = unaryChannelTls(tls);
  if (!pem) return grpc.credentials.createInsecure();
  return pem.cert && pem.key ? grpc.credentials.createSsl(pem.ca, pem.key, pem.cert) : grpc.credentials.createSsl(pem.ca);
}

/**
 * The client TLS settings as the PEM buffers a {@link UnaryChannel} takes (and
 * {@link channelCredentials} builds on): undefined (plaintext) without TLS_CA_FILE.
 * @throws ConfigError naming the variable that is unreadable
 */
export function unaryChannelTls(tls: TlsSettings): { ca: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  if (!tls.TLS_CA_FILE) return undefined;
  const ca = readPem('TLS_CA_FILE', tls.TLS_CA_FILE);
  if (tls.TLS_CERT_FILE && tls.TLS_KEY_FILE) {
    return { ca, cert: readPem('TLS_CERT_FILE', tls.TLS_CERT_FILE), key: readPem('TLS_KEY_FILE', tls.TLS_KEY_FILE) };
  }
  return { ca };
}

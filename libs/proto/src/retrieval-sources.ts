/**
 * Retrieval sources on the wire and in the code, mapped once: `@recsys/core` names them
 * (`embedding`, `popularity`, `covisitation`), the contracts number them (RetrievalSource).
 */
import type { RetrievalSource as SourceName } from '@recsys/core';
import { RetrievalSource } from './gen/recsys/v1/common';

/** The wire enum of each source name. */
export const WIRE_RETRIEVAL_SOURCE: Readonly<Record<SourceName, RetrievalSource>> = {
  embedding: RetrievalSource.RETRIEVAL_SOURCE_EMBEDDING,
  popularity: RetrievalSource.RETRIEVAL_SOURCE_POPULARITY,
  covisitation: RetrievalSource.RETRIEVAL_SOURCE_COVISITATION,
};

const NAME_OF = new Map<RetrievalSource, SourceName>(Object.entries(WIRE_RETRIEVAL_SOURCE).map(([name, wire]) => [wire, name as SourceName]));

/** The source name of a wire value; undefined for UNSPECIFIED and values this build does not know. */
export function retrievalSourceName(source: RetrievalSource): SourceName | undefined {
  return NAME_OF.get(source);
}

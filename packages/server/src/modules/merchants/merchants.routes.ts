import { createCipheriv } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { alphanumeric } from '../../lib/ids.ts';

/**
 * `GET /v3/certificates` (reference §2.3): the merchant's platform certificate, encrypted with
 * AEAD_AES_256_GCM under the APIv3 key with a 12-byte nonce and associated data "certificate".
 * `algorithm_type` is accepted and ignored (RSA is the only algorithm here).
 */
export function merchantRoutes(app: FastifyInstance, ctx: Ctx): void {
  app.get(
    '/v3/certificates',
    {
      config: { auth: 'merchant' },
      schema: {
        tags: ['certificates'],
        summary: 'Download the platform certificates (encrypted)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { algorithm_type: { type: 'string', enum: ['RSA', 'SM2', 'ALL'] } },
        },
      },
    },
    async (req) => {
      const k = req.merchant!.keys;
      const nonce = alphanumeric(ctx.ids, 12);
      const cipher = createCipheriv(
        'aes-256-gcm',
        Buffer.from(k.apiv3Key, 'utf8'),
        Buffer.from(nonce, 'utf8'),
      );
      cipher.setAAD(Buffer.from('certificate'));
      const sealed = Buffer.concat([
        cipher.update(k.platformCertificatePem, 'utf8'),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      return {
        data: [
          {
            serial_no: k.platformSerialNo,
            effective_time: rfc3339(k.platformCertNotBefore),
            expire_time: rfc3339(k.platformCertNotAfter),
            encrypt_certificate: {
              algorithm: 'AEAD_AES_256_GCM',
              nonce,
              associated_data: 'certificate',
              ciphertext: sealed.toString('base64'),
            },
          },
        ],
      };
    },
  );
}

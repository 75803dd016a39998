// Builds secret envelopes from docs/design/envelope.md alone, with Node's crypto, so that
// envelope_test can check src/crypto/envelope.cc against an independent implementation.
//   node src/crypto/testdata/envelope/generate.mjs > src/crypto/testdata/envelope/vectors.json
import { createCipheriv, hkdfSync } from 'node:crypto';

const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const field = (s) => { const b = Buffer.from(s, 'utf8'); return Buffer.concat([u32(b.length), b]); };
const i64 = (n) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(n)); return b; };

// Format 0x02: the value seal's AAD ends with the data key id; the DEK wrap's AAD is
// "EVDK" 0x02 field(workspace id) data-key-id.
function aad(ctx, id) {
  return Buffer.concat([Buffer.from([0x02]), field(ctx.workspace_id), field(ctx.item_key),
                        field(ctx.environment), i64(ctx.version), id]);
}

function dataKeyAad(workspaceId, id) {
  return Buffer.concat([Buffer.from('EVDK', 'ascii'), Buffer.from([0x02]), field(workspaceId), id]);
}

function gcm(key, nonce, plaintext, ad) {
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  c.setAAD(ad);
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

// Returns { envelope, wrapped_data_key } (hex) for one input.
function seal(v) {
  const master = Buffer.from(v.master_key, 'hex');
  const kek = Buffer.from(hkdfSync('sha256', master, Buffer.from(v.context.workspace_id, 'utf8'),
                                   Buffer.from('edgevault/workspace-kek/v1', 'ascii'), 32));
  const id = Buffer.from(v.data_key_id, 'hex');
  const dek = Buffer.from(v.dek, 'hex');
  const dekNonce = Buffer.from(v.dek_nonce, 'hex');
  const valueNonce = Buffer.from(v.value_nonce, 'hex');
  const wrapped = Buffer.concat([dekNonce,
                                 gcm(kek, dekNonce, dek, dataKeyAad(v.context.workspace_id, id))]);
  const envelope = Buffer.concat([Buffer.from([0x02]), id, valueNonce,
                                  gcm(dek, valueNonce, Buffer.from(v.plaintext, 'hex'), aad(v.context, id))]);
  return { envelope: envelope.toString('hex'), wrapped_data_key: wrapped.toString('hex') };
}

const inputs = [
  { name: 'typical', key_id: 'm1',
    master_key: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    context: { workspace_id: 'ws_01HZX5', item_key: 'STRIPE_SECRET_KEY', environment: 'production', version: 7 },
    data_key_id: '00112233445566778899aabbccddeeff',
    dek: '4242424242424242424242424242424242424242424242424242424242424242',
    dek_nonce: '0a0b0c0d0e0f101112131415', value_nonce: 'a0a1a2a3a4a5a6a7a8a9aaab',
    plaintext: Buffer.from('sk_live_51H8xYzAbCdEfGhIjKlMnOpQrStUvWxYz').toString('hex') },
  { name: 'empty value, 8-character key id, negative version', key_id: 'k-2024_a',
    master_key: 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeffe0e1e2e3e4e5e6e7e8e9eaebecedeeef',
    context: { workspace_id: 'w', item_key: '', environment: '', version: -1 },
    data_key_id: 'ffffffffffffffffffffffffffffffff',
    dek: '00000000000000000000000000000000000000000000000000000000000000ff',
    dek_nonce: '000000000000000000000001', value_nonce: '000000000000000000000002',
    plaintext: '' },
  { name: 'UTF-8 context, binary value', key_id: 'm2',
    master_key: '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
    context: { workspace_id: 'wörkspace-ü', item_key: 'db/password', environment: 'staging €', version: 4294967297 },
    data_key_id: '0102030405060708090a0b0c0d0e0f10',
    dek: 'c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff',
    dek_nonce: 'ffffffffffffffffffffffff', value_nonce: '123456789abcdef012345678',
    plaintext: '00ff00ff0102030405060708090a0b0c0d0e0f10111213141516171819' },
];

const out = inputs.map((v) => ({ ...v, ...seal(v) }));
process.stdout.write(JSON.stringify({
  source: 'src/crypto/testdata/envelope/generate.mjs (Node ' + process.version + ')',
  spec: 'docs/design/envelope.md',
  vectors: out,
}, null, 2) + '\n');

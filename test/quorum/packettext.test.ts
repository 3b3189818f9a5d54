// A packet whose data is given as latin1 text (QuorumPacket.dataLatin1, as the leader core sends a
// txn it keeps as text) encodes to the same bytes as one carrying the Buffer, for every byte value.
import t from 'tap';
import { JuteReader } from '../../src/protocol/jute';
import { decodeQuorumPacket, PacketType, quorumPacketBytes, type QuorumPacket } from '../../src/quorum/wire/packets';
import { prng } from '../util/prng';

t.test('dataLatin1 encodes as the Buffer it stands for', async (t) => {
  const rnd = prng(7);
  for (const len of [0, 1, 100, 255, 256, 4096, 70_000]) {
    const data = Buffer.alloc(len);
    for (let i = 0; i < len; i++) data[i] = Math.floor(rnd() * 256);
    if (len >= 256) for (let i = 0; i < 256; i++) data[i] = i;
    const plain: QuorumPacket = { type: PacketType.PROPOSAL, zxid: 0x1_0000_0005n, data, authinfo: null };
    const text = data.toString('latin1');
    const viaText: QuorumPacket = { type: PacketType.PROPOSAL, zxid: 0x1_0000_0005n, data: Buffer.alloc(0), authinfo: null, dataLatin1: text };
    const a = quorumPacketBytes(plain);
    const b = quorumPacketBytes(viaText);
    t.ok(a.equals(b), `${len} bytes: same encoding`);
    const back = decodeQuorumPacket(new JuteReader(b));
    t.ok(back.data !== null && back.data.equals(data), `${len} bytes: decodes to the original data`);
  }
});

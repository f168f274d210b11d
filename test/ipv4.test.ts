import t from 'tap';
import { cidrContains, inSubnet, intToIp, ipToInt, isHostAddress, nthAddress, parseCidr, type Cidr } from '../src/net/ipv4.js';

t.test('parseCidr', async (t) => {
  t.match(parseCidr('10.0.0.0/24'), { network: '10.0.0.0', netmask: '255.255.255.0', broadcast: '10.0.0.255', size: 256, prefixLength: 24 });
  t.match(parseCidr('172.16.0.0/12'), { broadcast: '172.31.255.255', netmask: '255.240.0.0' });
  t.match(parseCidr('0.0.0.0/0'), { size: 2 ** 32, broadcast: '255.255.255.255' });
  t.type(parseCidr('10.0.0.1/24'), 'string');
  t.type(parseCidr('010.0.0.0/24'), 'string');
  t.type(parseCidr('10.0.0/24'), 'string');
  t.type(parseCidr('10.0.0.0/x'), 'string');
});

t.test('membership and arithmetic', async (t) => {
  const c = parseCidr('192.168.50.0/24') as Cidr;
  t.ok(cidrContains(c, '192.168.50.77'));
  t.notOk(cidrContains(c, '192.168.51.1'));
  t.notOk(isHostAddress(c, '192.168.50.0'));
  t.notOk(isHostAddress(c, '192.168.50.255'));
  t.ok(isHostAddress(c, '192.168.50.254'));
  t.equal(nthAddress(c, 2), '192.168.50.2');
  t.equal(intToIp(ipToInt('255.255.255.255')), '255.255.255.255');
  t.ok(inSubnet('10.1.2.3', '10.0.0.0', 8));
  t.notOk(inSubnet('11.1.2.3', '10.0.0.0', 8));
});

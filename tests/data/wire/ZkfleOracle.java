package org.apache.zookeeper.server.quorum;

import java.io.*;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Asks a real ZooKeeper jar (and the JDK) how it encodes and decodes election bytes, so that
 * tests/test_wire.py can compare engine/core/wire.py against Java's own answers. Our code, calling
 * ZooKeeper's methods; it sits in ZooKeeper's package only to reach package-private ones.
 * Driven by make_java_vectors.py: one request per line on stdin, one answer per line on stdout.
 *   U hex                           -> code points of new String(bytes, UTF_8)
 *   H version hex                   -> InitialMessage.parse(version, bytes): OK sid host-hex/port...
 *   W host-hex                      -> InitialMessage.isWildcardAddress(host)
 *   B6 state leader zxid epoch peerEpoch config-hex -> buildMsg (6 arguments), hex
 *   B5 state leader zxid epoch peerEpoch            -> buildMsg (5 arguments), hex
 * Failures answer "ERR ExceptionClass: message".
 */
public class ZkfleOracle {
    static byte[] unhex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return b;
    }
    static String hex(byte[] b) {
        StringBuilder h = new StringBuilder();
        for (byte x : b) h.append(String.format("%02x", x));
        return h.toString();
    }
    public static void main(String[] a) throws IOException {
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        String line;
        while ((line = r.readLine()) != null) {
            String[] f = line.split(" ", -1);
            try {
                switch (f[0]) {
                case "U": {
                    String s = new String(unhex(f[1]), StandardCharsets.UTF_8);
                    StringBuilder h = new StringBuilder();
                    s.codePoints().forEach(cp -> h.append(Integer.toHexString(cp)).append(','));
                    out.println(h);
                    break;
                }
                case "H": {
                    DataInputStream din = new DataInputStream(new ByteArrayInputStream(unhex(f[2])));
                    QuorumCnxManager.InitialMessage m = QuorumCnxManager.InitialMessage.parse(Long.parseLong(f[1]), din);
                    StringBuilder h = new StringBuilder("OK " + m.sid);
                    for (InetSocketAddress ad : m.electionAddr) h.append(' ').append(hex(ad.getHostString().getBytes(StandardCharsets.UTF_8))).append('/').append(ad.getPort());
                    out.println(h);
                    break;
                }
                case "W":
                    out.println(QuorumCnxManager.InitialMessage.isWildcardAddress(new String(unhex(f[1]), StandardCharsets.UTF_8)));
                    break;
                case "B6": {
                    ByteBuffer b = FastLeaderElection.buildMsg(Integer.parseInt(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]),
                        Long.parseLong(f[4]), Long.parseLong(f[5]), unhex(f[6]));
                    out.println(hex(b.array()));
                    break;
                }
                case "B5": {
                    ByteBuffer b = FastLeaderElection.buildMsg(Integer.parseInt(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]),
                        Long.parseLong(f[4]), Long.parseLong(f[5]));
                    out.println(hex(b.array()));
                    break;
                }
                default:
                    out.println("ERR unknown request");
                }
            } catch (Exception e) {
                out.println("ERR " + e.getClass().getSimpleName() + ": " + e.getMessage());
            }
        }
    }
}

// Prints what Apache ZooKeeper makes of config files, for test_config.py's comparison with
// the real thing. Run as a single-file program:
//   java -cp zookeeper.jar:slf4j-api.jar ZkConfigProbe.java zoo.cfg|dynamic FILE...
// For each FILE: "=== FILE", then QuorumVerifier.toString() and "--- <myid> <peerType>",
// or "--- error <exception>".
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Properties;
import org.apache.zookeeper.server.quorum.QuorumPeerConfig;

public class ZkConfigProbe {
    public static void main(String[] args) {
        boolean zooCfg = args[0].equals("zoo.cfg");
        for (int i = 1; i < args.length; i++) {
            System.out.println("=== " + args[i]);
            try {
                if (zooCfg) {
                    QuorumPeerConfig config = new QuorumPeerConfig();
                    config.parse(args[i]);
                    System.out.println(config.getQuorumVerifier());
                    System.out.println("--- " + config.getServerId() + " " + config.getPeerType());
                } else {
                    Properties props = new Properties();
                    props.load(new StringReader(Files.readString(Paths.get(args[i]))));
                    System.out.println(QuorumPeerConfig.parseDynamicConfig(props, 3, false, false, null));
                    System.out.println("--- ");
                }
            } catch (Throwable t) {
                System.out.println("--- error " + t);
            }
        }
    }
}

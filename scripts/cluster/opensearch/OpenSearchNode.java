// A single OpenSearch node started from the Maven artifacts, without a distribution
// archive: the Netty4 transport (a bundled module in the distribution) comes in as a
// classpath plugin. up.sh compiles this file into .cluster/opensearch/classes.
//
//   java -cp <classes>:<opensearch.classpath> OpenSearchNode <home>
//
// <home>/config/opensearch.yml and log4j2.properties are rendered by up.sh.
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

public final class OpenSearchNode extends Node {
  private OpenSearchNode(Environment environment, List<Class<? extends Plugin>> plugins) {
    super(environment, plugins, true);
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: OpenSearchNode <home>");
      System.exit(2);
    }
    Path home = Paths.get(args[0]).toAbsolutePath();
    Settings input = Settings.builder().put("path.home", home.toString()).build();
    Environment environment = InternalSettingsPreparer.prepareEnvironment(
        input, Collections.emptyMap(), home.resolve("config"), () -> "tideflow");
    LogConfigurator.registerErrorListener();
    // Before configure: the log pattern's %node_name needs it.
    LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
    LogConfigurator.configure(environment);

    Node node = new OpenSearchNode(environment, List.of(Netty4Plugin.class));
    CountDownLatch stopped = new CountDownLatch(1);
    // SIGTERM (down.sh): close the node so shards are flushed and the data lock released.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        node.close();
      } catch (Exception e) {
        e.printStackTrace();
      } finally {
        stopped.countDown();
      }
    }, "opensearch-shutdown"));
    node.start();
    stopped.await();
  }
}

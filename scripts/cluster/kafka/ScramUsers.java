// Adds a user's SCRAM-SHA-256 and SCRAM-SHA-512 credentials through the Admin API
// (idempotent: an upsert). up.sh runs it, as a single-file source program, only for
// a data directory formatted without `--add-scram` (by an older up.sh); it works the
// same on Kafka 3.x and 4.x, unlike ConfigCommand, which Kafka 4 moved to kafka-tools.
//
//   java -cp <kafka classpath> ScramUsers.java <bootstrap> <user> <password>
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

public final class ScramUsers {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: ScramUsers <bootstrap> <user> <password>");
      System.exit(2);
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    try (Admin admin = Admin.create(props)) {
      // One mechanism per request: KRaft refuses two changes to one user in one request.
      for (ScramMechanism mechanism : List.of(ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)) {
        admin.alterUserScramCredentials(List.of(
            new UserScramCredentialUpsertion(args[1], new ScramCredentialInfo(mechanism, 4096), args[2])))
            .all().get();
      }
    }
  }
}

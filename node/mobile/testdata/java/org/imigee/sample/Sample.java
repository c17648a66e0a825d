// A small app-side driver of the facade, compiled (not run) by
// `make mobile-check` against the gobind output, so a change to the facade
// that breaks Kotlin/Java callers fails CI.
package org.imigee.sample;

import org.imigee.mobile.Config;
import org.imigee.mobile.CrashReporter;
import org.imigee.mobile.Event;
import org.imigee.mobile.EventHandler;
import org.imigee.mobile.Logger;
import org.imigee.mobile.Mobile;
import org.imigee.mobile.Node;

public final class Sample implements EventHandler, Logger, CrashReporter {
    @Override public void onEvent(Event e) {
        if (Mobile.EventItemOffered.equals(e.getKind())) {
            System.out.println("offered " + e.getItemID() + " from " + e.getFriendID());
        } else if (Mobile.EventDeliveryFailed.equals(e.getKind()) && Mobile.FailRejected.equals(e.getErr())) {
            System.out.println("rejected " + e.getItemID());
        }
    }

    @Override public void log(long level, String message) {
        if (level >= Mobile.LogWarn) System.err.println(message);
    }

    @Override public void onCrash(String report) {
        System.err.println(report);
    }

    public static void run(String dir, byte[] key, String relays, String invite) {
        Sample s = new Sample();
        Mobile.setCrashReporter(s);
        Config c = new Config();
        c.setDataDir(dir);
        c.setStoreKey(key);
        c.setRelays(relays);
        c.setLogger(s);
        c.setLogLevel(Mobile.LogInfo);
        c.setCrash(s);
        try {
            Node n = Mobile.newNode(c, s);
            n.start();
            org.imigee.mobile.LinkResult link = n.link(invite, 10000);
            String friend = link.getFriendID();
            if (link.getPending()) System.out.println("waiting for the inviter to confirm");
            n.setPrecision(friend, Mobile.PrecisionCasual);
            String item = n.sendMessage(friend, "hello");
            System.out.println(item + " " + n.friendsJSON() + " " + n.inboxJSON());
            // Lifecycle: what an Activity/WorkManager job would call.
            n.setPushEndpoint("https://push.example.org/up/instance");
            n.setAppState(Mobile.AppBackground);
            n.networkChanged(Mobile.NetworkCellular, true);
            String summary = n.syncOnce(Mobile.DefaultSyncTimeoutMs);
            String page = n.inboxPage(0, 50);
            System.out.println(summary + " " + page);
            n.setAppState(Mobile.AppForeground);
            n.stop();
            n.start();
            n.close();
        } catch (Exception e) {
            long code = Mobile.errorCode(e);
            if (code == Mobile.CodeBadInvite) {
                System.err.println("bad invite");
            } else {
                System.err.println(Mobile.errorCodeName(code) + " " + e.getMessage());
            }
        }
    }
}

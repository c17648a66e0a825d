// Compile-only stand-in for the Android SDK class that gobind's go.Seq
// imports; `make mobile-check` compiles the generated Java against it
// without an Android SDK. Never packaged.
package android.content;

public abstract class Context {
    public abstract Context getApplicationContext();
}

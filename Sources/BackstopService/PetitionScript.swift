/// The pages' scripts, served from the service itself (`script-src 'self'`).
enum PetitionScript {
    /// The dashboard reloads itself every minute, so its countdowns and queue stay current.
    static let dashboard = """
        "use strict";
        setTimeout(function () { location.reload(); }, 60000);
        """

    /// Signs the petition in the browser: WebCrypto ECDSA P-256 over SHA-256 of the
    /// payload's exact bytes (fetched, and checked against the SHA-256 the page names),
    /// the signature converted from WebCrypto's r||s to DER. The private key never leaves
    /// the browser; it can be saved as PKCS#8 PEM and loaded again to sign later.
    static let source = #"""
        "use strict";
        (function () {
          const section = document.getElementById("petition");
          const id = section.dataset.queue;
          const confirmRead = document.getElementById("confirm-read");
          const button = document.getElementById("sign");
          const savedKey = document.getElementById("saved-key");
          const status = document.getElementById("sign-status");
          const count = document.getElementById("count");
          const download = document.getElementById("download-key");
          const algorithm = { name: "ECDSA", namedCurve: "P-256" };
          let loadedKey = null;

          function hex(bytes) { return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""); }
          function integer(bytes) {
            let i = 0;
            while (i < bytes.length - 1 && bytes[i] === 0) i++;
            let body = Array.from(bytes.slice(i));
            if (body[0] & 0x80) body = [0].concat(body);
            return [0x02, body.length].concat(body);
          }
          function der(raw) {
            const body = integer(raw.slice(0, 32)).concat(integer(raw.slice(32)));
            return new Uint8Array([0x30, body.length].concat(body));
          }
          function pem(label, bytes) {
            const base64 = btoa(String.fromCharCode.apply(null, bytes));
            return "-----BEGIN " + label + "-----\n" + base64.match(/.{1,64}/g).join("\n") + "\n-----END " + label + "-----\n";
          }
          function unpem(text) {
            const body = text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
            return Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
          }
          async function keyPair() {
            if (loadedKey) return loadedKey;
            return crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
          }
          async function publicKeyOf(pair) {
            // A key loaded from PKCS#8 has no public half in WebCrypto: derive it from the JWK.
            if (pair.publicKey) return new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
            const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
            const pub = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, algorithm, true, ["verify"]);
            return new Uint8Array(await crypto.subtle.exportKey("spki", pub));
          }

          confirmRead.addEventListener("change", function () { button.disabled = !confirmRead.checked; });
          savedKey.addEventListener("change", async function () {
            try {
              const text = await savedKey.files[0].text();
              const privateKey = await crypto.subtle.importKey("pkcs8", unpem(text), algorithm, true, ["sign"]);
              loadedKey = { privateKey: privateKey, publicKey: null };
              status.textContent = "Your saved key is loaded; signing will use it.";
            } catch (error) {
              loadedKey = null;
              status.textContent = "That file is not a P-256 private key in PKCS#8 PEM.";
            }
          });
          button.addEventListener("click", async function () {
            button.disabled = true;
            status.textContent = "Signing…";
            try {
              const response = await fetch("/v1/proposals/" + id + "/payload");
              if (!response.ok) throw new Error("the petition could not be fetched");
              const payload = new Uint8Array(await response.arrayBuffer());
              const digest = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", payload)));
              if (digest !== id) throw new Error("the petition's bytes are not the ones this page shows");
              const pair = await keyPair();
              const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, payload));
              const spki = await publicKeyOf(pair);
              if (!loadedKey) {
                const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
                download.href = URL.createObjectURL(new Blob([pem("PRIVATE KEY", pkcs8)], { type: "application/x-pem-file" }));
                download.hidden = false;
              }
              const posted = await fetch("/v1/proposals/" + id + "/signatures", {
                method: "POST", headers: { "content-type": "application/json" },
                body: JSON.stringify({ signature: hex(der(raw)), publicKey: hex(spki) })
              });
              const answer = await posted.json();
              if (!posted.ok) throw new Error(answer.error ? answer.error.message : "refused");
              if (answer.petition) count.textContent = String(answer.petition.distinct);
              status.textContent = answer.appended
                ? "Signed. The claim is filed: entry " + answer.appended.seq + "."
                : answer.signature.code === "duplicate" ? "This key had already signed; nothing changed."
                : "Signed. Thank you.";
              status.className = "done";
            } catch (error) {
              status.textContent = "Not signed: " + error.message;
              button.disabled = !confirmRead.checked;
            }
          });
        })();
        """#
}

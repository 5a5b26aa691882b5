//! A session's tenant ends with the session: its `kv` data is deleted when the client closes the session, unless the
//! server was given one tenant for every session. A session driven over a byte stream as a client would, on the wasm
//! backend with a real key-value store.

use std::sync::{Arc, Mutex};

use isobox_capabilities::{Capabilities, TenantState};
use isobox_kv::{KvStore, TenantUsage};
use isobox_mcp::McpServer;
use isobox_wasm::{WasmBackend, WasmConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The store's tenant state, which also notes the tenants that begin, so the test knows the session's.
struct Noted {
    store: KvStore,
    begun: Mutex<Vec<String>>,
}

impl TenantState for Noted {
    fn begin_temporary(&self, tenant: &str) -> Result<(), String> {
        self.begun.lock().unwrap().push(tenant.to_string());
        self.store.begin_temporary(tenant)
    }

    fn end(&self, tenant: &str) -> Result<(), String> {
        self.store.end(tenant)
    }
}

/// Runs one session that stores a key, calling `during` before the client closes it.
async fn session(server: McpServer, during: impl FnOnce()) {
    let (client, server_end) = tokio::io::duplex(1 << 16);
    let (read, write) = tokio::io::split(server_end);
    let serving = tokio::spawn(async move { server.serve(read, write).await });
    let (read, mut write) = tokio::io::split(client);
    let mut lines = BufReader::new(read).lines();
    let mut send = async |message: Value| write.write_all(format!("{message}\n").as_bytes()).await.unwrap();
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}))
    .await;
    let reply: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(reply["id"], 1, "{reply}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let code = "await kv.set('note', 'kept'); return await kv.list('')";
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "execute", "arguments": {"code": code}}}))
    .await;
    let reply: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(reply["id"], 2, "{reply}");
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    during();
    drop((write, lines));
    serving.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_tenant_is_deleted_when_the_session_ends_and_a_given_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = KvStore::open(&dir.path().join("kv.redb")).unwrap();
    let noted = Arc::new(Noted { store: store.clone(), begun: Mutex::new(Vec::new()) });
    let mut capabilities = Capabilities::new();
    capabilities.register(store.capability().with_tenant_state(noted.clone())).unwrap();
    let config =
        WasmConfig { capabilities: capabilities.clone(), max_sandboxes: 2, cache_dir: None, ..WasmConfig::default() };
    let backend = Arc::new(WasmBackend::new(config).unwrap());
    let server = McpServer::new(backend, &capabilities, &["kv"]).unwrap();

    session(server.clone(), || {
        let begun = noted.begun.lock().unwrap();
        assert!(begun.len() == 1 && begun[0].starts_with("mcp-"), "{begun:?}");
        assert_eq!(store.usage(&begun[0]).unwrap(), TenantUsage { bytes: 8, keys: 1 }, "stored during the session");
    })
    .await;
    let tenant = noted.begun.lock().unwrap()[0].clone();
    assert_eq!(store.usage(&tenant).unwrap(), TenantUsage::default(), "deleted when the session ended");

    session(server.with_tenant("team"), || {}).await;
    assert_eq!(noted.begun.lock().unwrap().len(), 1, "a given tenant is not temporary");
    assert_eq!(store.usage("team").unwrap(), TenantUsage { bytes: 8, keys: 1 }, "kept after the session");
}

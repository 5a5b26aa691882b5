//! Test support for isobox: real services, started in temporary directories for a test and stopped after it.
//!
//! - [`TempPostgres`]: a PostgreSQL server of its own (Debian's `postgresql` package; `scripts/setup.sh` installs it).

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The database user [`TempPostgres`] creates, trusted without a password.
pub const POSTGRES_USER: &str = "isobox";

/// A PostgreSQL server in a fresh temporary data directory, listening on 127.0.0.1 at a free port and on a Unix
/// socket in its data directory, with trust authentication for [`POSTGRES_USER`]. Dropping it stops the server and
/// deletes the directory.
///
/// PostgreSQL refuses to run as root: as root, the directory belongs to the `postgres` user and the server's programs
/// run as that user (`runuser -u postgres --`).
#[derive(Debug)]
pub struct TempPostgres {
    /// Deleted when dropped, after the server is stopped.
    dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
}

impl TempPostgres {
    /// Creates a data directory (`initdb`) and starts the server (`pg_ctl start`), waiting until it accepts
    /// connections.
    ///
    /// # Errors
    /// PostgreSQL's programs are not installed (the message says to run `scripts/setup.sh`), or `initdb` or the
    /// server failed (the message includes what they wrote).
    pub fn start() -> io::Result<Self> {
        let bin = find_binaries()?;
        let as_postgres = output(Command::new("id").arg("-u"))?.trim() == "0";
        let dir = tempfile::Builder::new().prefix("isobox-postgres-").tempdir()?;
        if as_postgres {
            let ids = |flag: &str| -> io::Result<u32> {
                output(Command::new("id").args([flag, "postgres"]))?
                    .trim()
                    .parse()
                    .map_err(|_| io::Error::other("`id postgres` did not print a number"))
            };
            std::os::unix::fs::chown(dir.path(), Some(ids("-u")?), Some(ids("-g")?))?;
        }
        let data = dir.path().join("data");
        let mut server = Self { dir, data, bin, port: 0, as_postgres, running: false };
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                server.data.as_os_str(),
                "-U".as_ref(),
                POSTGRES_USER.as_ref(),
                "--auth=trust".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        // A free port can be taken between finding it and the server binding it: try a few.
        let mut last_error = None;
        for _ in 0..5 {
            server.port = free_port()?;
            server.configure()?;
            let log = server.dir.path().join("server.log");
            let started = server.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    server.data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "30".as_ref(),
                    "start".as_ref(),
                ],
            );
            match started {
                Ok(_) => {
                    server.running = true;
                    return Ok(server);
                }
                Err(error) => {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    last_error = Some(io::Error::other(format!("{error}\nserver log:\n{log}")));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("PostgreSQL did not start")))
    }

    /// `postgres://isobox@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://{POSTGRES_USER}@127.0.0.1:{}/postgres", self.port)
    }

    /// The same database over the Unix socket, in libpq's `key=value` form.
    pub fn socket_url(&self) -> String {
        format!("host={} port={} user={POSTGRES_USER} dbname=postgres", self.data.display(), self.port)
    }

    /// The TCP port the server listens on at 127.0.0.1, also the number of its Unix socket (`.s.PGSQL.PORT`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's Unix socket (its data directory).
    pub fn socket_dir(&self) -> &Path {
        &self.data
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`), as a crash would; the directory stays until drop.
    ///
    /// # Errors
    /// `pg_ctl` failed.
    pub fn stop(&mut self) -> io::Result<()> {
        if self.running {
            self.running = false;
            self.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    self.data.as_os_str(),
                    "-m".as_ref(),
                    "immediate".as_ref(),
                    "-w".as_ref(),
                    "stop".as_ref(),
                ],
            )?;
        }
        Ok(())
    }

    /// Settings appended to `postgresql.conf` (later lines win, so a retry with another port appends again).
    fn configure(&self) -> io::Result<()> {
        use std::io::Write;
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nfsync = off\n\
             synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n",
            self.port,
            self.data.display().to_string().replace('\'', "''")
        );
        std::fs::OpenOptions::new().append(true).open(self.data.join("postgresql.conf"))?.write_all(settings.as_bytes())
    }

    /// Runs one of PostgreSQL's programs, as `postgres` when this process is root.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> io::Result<String> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        // The server's working directory must be one it can read.
        command.args(args).current_dir(self.dir.path());
        output(&mut command)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `/usr/lib/postgresql/<newest>/bin` (Debian's layout), else the directory on `PATH` that holds `initdb`.
fn find_binaries() -> io::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "PostgreSQL's server programs (initdb, pg_ctl) are not installed: run scripts/setup.sh, which \
                 installs Debian's `postgresql` package",
            )
        })
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What `command` printed, or an error with everything it wrote when it failed.
fn output(command: &mut Command) -> io::Result<String> {
    let Output { status, stdout, stderr } = command.output()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "{:?} failed ({status}): {}{}",
            command.get_program(),
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_listens_and_is_gone_once_dropped() {
        let server = TempPostgres::start().unwrap();
        let port = server.port();
        let dir = server.socket_dir().to_path_buf();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "listening on {port}");
        assert!(dir.join(format!(".s.PGSQL.{port}")).exists(), "a Unix socket in {}", dir.display());
        assert_eq!(server.url(), format!("postgres://isobox@127.0.0.1:{port}/postgres"));
        drop(server);
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "stopped");
        assert!(!dir.exists(), "deleted");
    }
}

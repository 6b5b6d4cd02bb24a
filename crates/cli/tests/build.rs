//! `berth build`, for real: Containerfiles built on the busybox image,
//! what the built image holds checked with inspect and by running it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod regharness;

use common::*;
use serde_json::Value;

fn config(env: &Env, image: &str) -> Value {
    let out = env.ok(&["image", "inspect", "--format", "{{json .Config}}", image]);
    serde_json::from_str(&out).unwrap()
}

fn history(env: &Env, image: &str) -> Vec<Value> {
    let out = env.ok(&["image", "inspect", "--format", "{{json .History}}", image]);
    serde_json::from_str(&out).unwrap()
}

/// Every metadata instruction lands in the config; RUN sees build args
/// and ENV; COPY writes files and directories (with --chown) where docker
/// would; the output is podman's; the history is docker's.
#[test]
fn a_containerfile_becomes_the_image_it_describes() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\n\
         ARG WHO=nobody\n\
         ENV GREETING=hello \\\n    PLACE=\"the world\"\n\
         RUN echo \"$GREETING $WHO from $PLACE\" > /greeting\n\
         COPY a.txt /srv/\n\
         COPY dir /srv/dir\n\
         COPY --chown=1:2 a.txt /owned.txt\n\
         WORKDIR /srv\n\
         COPY a.txt relative.txt\n\
         LABEL com.example.x=\"y z\" other=1\n\
         EXPOSE 80 53/udp\n\
         VOLUME /data\n\
         STOPSIGNAL SIGINT\n\
         HEALTHCHECK --interval=5s --retries=2 CMD true\n\
         USER 1:2\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
         CMD [\"cat /greeting\"]\n",
        &[("a.txt", "A\n"), ("dir/b.txt", "B\n"), ("dir/sub/c.txt", "C\n")],
    );
    let out = build(&env, &["-t", "built", "--build-arg", "WHO=berth", "--label", "from=cli"], &ctx);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "STEP 1/17: FROM localhost/bb", "{out}");
    assert!(lines.contains(&"STEP 3/17: ENV GREETING=hello     PLACE=\"the world\""), "{out}");
    assert!(lines.contains(&"COMMIT built"), "{out}");
    assert!(lines.contains(&"Successfully tagged localhost/built:latest"), "{out}");
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", "built"]);
    assert_eq!(lines.last().unwrap(), &id.trim(), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("--> ")).count(), 16, "{out}");

    let c = config(&env, "built");
    let env_list: Vec<&str> = c["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(env_list.contains(&"GREETING=hello") && env_list.contains(&"PLACE=the world"), "{c}");
    assert!(env_list.iter().any(|e| e.starts_with("PATH=")), "{c}");
    assert!(!env_list.iter().any(|e| e.starts_with("WHO=")), "a build arg is not the image's: {c}");
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["User"], "1:2");
    assert_eq!(c["Labels"]["com.example.x"], "y z");
    assert_eq!(c["Labels"]["other"], "1");
    assert_eq!(c["Labels"]["from"], "cli");
    assert!(c["ExposedPorts"]["80/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object(), "{c}");
    assert!(c["Volumes"]["/data"].is_object(), "{c}");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD-SHELL", "true"]));
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["cat /greeting"]));

    // What the steps wrote, seen by a container of the image.
    assert_eq!(env.ok(&["run", "--rm", "built"]), "hello berth from the world\n");
    let look = "cat /srv/a.txt /srv/dir/b.txt /srv/dir/sub/c.txt /srv/relative.txt; stat -c '%u:%g %n' /owned.txt /srv/a.txt; ls /srv";
    let seen = env.ok(&["run", "--rm", "--user", "0", "built", look]);
    assert_eq!(seen, "A\nB\nC\nA\n1:2 /owned.txt\n0:0 /srv/a.txt\na.txt\ndir\nrelative.txt\n", "{seen}");

    // History: docker's created_by, a layer for RUN and COPY only.
    let h = history(&env, "built");
    let ours = &h[h.len() - 16..];
    assert_eq!(ours[0]["created_by"], "/bin/sh -c #(nop) ARG WHO=nobody");
    // The build args in scope first, as docker's classic builder and
    // buildah write them.
    assert_eq!(ours[2]["created_by"], "|1 WHO=berth /bin/sh -c echo \"$GREETING $WHO from $PLACE\" > /greeting");
    assert!(ours[2].get("empty_layer").is_none());
    assert_eq!(ours[1]["empty_layer"], true);
    let copy = ours[3]["created_by"].as_str().unwrap();
    assert!(copy.starts_with("/bin/sh -c #(nop) COPY file:") && copy.ends_with(" in /srv/ "), "{copy}");
    let layers: Vec<Value> =
        serde_json::from_str(&env.ok(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", "built"])).unwrap();
    assert_eq!(layers.len(), 1 + 5, "the base's and one per RUN or COPY");

    // The intermediate images stay, untagged, as buildah's.
    let all = env.ok(&["images", "-a", "-q"]);
    assert!(all.lines().count() >= 17, "{all}");
}

/// `-q` prints the ID alone (a RUN's output is not shown, its errors
/// are); `--iidfile` gets it too; `-f` names another file; `--target`
/// builds a stage and what it needs.
#[test]
fn quiet_iidfile_file_and_target() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "",
        &[(
            "Stages",
            "FROM localhost/bb AS base\nRUN echo shown; echo err >&2; echo base > /stage\n\
             FROM base AS next\nRUN echo next >> /stage\n\
             FROM localhost/bb\nRUN echo last > /stage\n",
        )],
    );
    let iid = env.path("iid");
    let o = env.run(&[
        "build",
        "-q",
        "--iidfile",
        iid.to_str().unwrap(),
        "-f",
        ctx.join("Stages").to_str().unwrap(),
        "--target",
        "next",
        "-t",
        "next",
        ctx.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", "next"]);
    assert_eq!(out, format!("{}\n", id.trim().trim_start_matches("sha256:")));
    assert!(stderr(&o).contains("err"), "{}", stderr(&o));
    // (podman's iidfile names the algorithm.)
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), format!("sha256:{}", id.trim()));
    assert_eq!(env.ok(&["run", "--rm", "next", "cat", "/stage"]), "base\nnext\n");
    // The last stage was not built.
    let all = env.ok(&["images", "-a", "-q"]);
    assert_eq!(all.lines().count(), 1 + 1 + 1, "the base and an image per step of the two stages: {all}");
}

/// A RUN that fails stops the build with its exit code and podman's
/// words; a file that does not parse names its line; a COPY source
/// outside the context or missing is refused. Nothing is tagged.
#[test]
fn failures_say_where_and_exit_as_podman() {
    let (env, _) = Env::with_busybox();
    let ctx = context(&env, "FROM localhost/bb\nRUN echo out; exit 3\n", &[("a.txt", "A\n")]);
    let o = env.run(&["build", "-t", "never", ctx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stdout(&o).contains("out\n"), "{}", stdout(&o));
    assert_eq!(stderr(&o), "Error: building at STEP \"RUN echo out; exit 3\": while running runtime: exit status 3\n");
    assert_eq!(env.run(&["image", "exists", "never"]).status.code(), Some(1));
    assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "the build container is left");

    for (text, want) in [
        ("FROM localhost/bb\n\nBOGUS x\n", ":3: unknown instruction"),
        ("FROM localhost/bb\nCOPY ../outside /x\n", ":2: COPY ../outside: forbidden path outside the build context"),
        ("FROM localhost/bb\nCOPY nope /x\n", ":2: COPY nope: no such file or directory in the build context"),
        (
            "FROM localhost/bb\nRUN --mount=type=cache,id=x true\n",
            ":2: RUN --mount=type=cache,id=x: a target is required",
        ),
        ("FROM localhost/bb\nRUN --bogus=none true\n", ":2: RUN --bogus: not supported yet"),
        ("FROM localhost/bb\nENV =x\n", ":2: ENV names can not be blank"),
        ("FROM nothing/here\n", ":1: "),
    ] {
        std::fs::write(ctx.join("Containerfile"), text).unwrap();
        let e = env.fails(&["build", "-t", "never", ctx.to_str().unwrap()], 125);
        let file = ctx.join("Containerfile");
        assert!(e.starts_with(&format!("Error: {}{want}", file.display())), "{text:?}: {e}");
    }
    assert_eq!(env.run(&["image", "exists", "never"]).status.code(), Some(1));
}

/// The context's ignore file keeps what it names out of COPY (an
/// exception brings a file back, with its directory); a source it
/// excludes is an error; `<file>.containerignore` beside the
/// Containerfile wins over the context's.
#[test]
fn ignore_files_keep_files_out() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\nCOPY . /app\n",
        &[
            (".dockerignore", "# secrets stay home\n*.secret\nlogs\n!logs/keep.log\n"),
            ("a.txt", "A\n"),
            ("key.secret", "S\n"),
            ("sub/deep.secret", "S\n"),
            ("logs/keep.log", "K\n"),
            ("logs/other.log", "O\n"),
        ],
    );
    build(&env, &["-t", "ignored"], &ctx);
    let seen = env.ok(&["run", "--rm", "ignored", "find", "/app"]);
    let mut seen: Vec<&str> = seen.lines().collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "/app",
            "/app/.dockerignore",
            "/app/Containerfile",
            "/app/a.txt",
            "/app/logs",
            "/app/logs/keep.log",
            "/app/sub",
            "/app/sub/deep.secret"
        ],
        "docker's patterns are anchored: *.secret is the context's top level only"
    );
    std::fs::write(ctx.join("Containerfile"), "FROM localhost/bb\nCOPY key.secret /k\n").unwrap();
    let e = env.fails(&["build", ctx.to_str().unwrap()], 125);
    assert!(e.contains(":2: COPY key.secret: excluded by the context's ignore file"), "{e}");
    // The Containerfile's own ignore file wins: here it excludes nothing.
    std::fs::write(ctx.join("Containerfile.containerignore"), "logs/other.log\n").unwrap();
    build(&env, &["-t", "own"], &ctx);
    assert_eq!(env.ok(&["run", "--rm", "own", "cat", "/k"]), "S\n");
}

/// A rebuild with nothing changed reuses every step and says so (podman's
/// lines), and gives the same image; a touched but unchanged file is still
/// a hit; a changed copied file misses from its COPY on; a changed build
/// argument misses from the first RUN after its ARG (docker's rule: a RUN
/// has them all as its environment), not at a COPY that does not name it;
/// `--no-cache` runs everything.
#[test]
fn the_cache_reuses_steps_until_something_they_depend_on_changes() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\nARG V=1\nRUN echo run-a\nCOPY a.txt /a.txt\nRUN echo run-b-$V\nCMD [\"sh\"]\n",
        &[("a.txt", "A\n")],
    );
    let hits = |out: &str| out.lines().filter(|l| l.starts_with("--> Using cache ")).count();
    // A RUN ran: its output is a line of its own.
    let ran = |out: &str, line: &str| out.lines().any(|l| l == line);
    let first = build(&env, &["-t", "c"], &ctx);
    assert_eq!(hits(&first), 0, "{first}");
    assert!(ran(&first, "run-a") && ran(&first, "run-b-1"), "{first}");

    let again = build(&env, &["-t", "c"], &ctx);
    assert_eq!(hits(&again), 5, "{again}");
    assert!(!ran(&again, "run-a"), "a cached RUN ran: {again}");
    assert_eq!(again.lines().last(), first.lines().last(), "another image");
    let lines: Vec<&str> = again.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("STEP 6/6")).unwrap();
    assert!(lines[at + 1].starts_with("--> Using cache ") && lines[at + 2] == "COMMIT c", "{again}");

    // Touched, same content: still a hit.
    let f = std::fs::File::options().write(true).open(ctx.join("a.txt")).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60)).unwrap();
    assert_eq!(hits(&build(&env, &["-t", "c"], &ctx)), 5);

    std::fs::write(ctx.join("a.txt"), "changed\n").unwrap();
    let out = build(&env, &["-t", "c"], &ctx);
    assert_eq!(hits(&out), 2, "ARG and the first RUN only: {out}");
    assert_eq!(env.ok(&["run", "--rm", "c", "cat", "/a.txt"]), "changed\n");

    std::fs::write(ctx.join("Containerfile"), "FROM localhost/bb\nARG V=1\nCOPY a.txt /a.txt\nRUN echo run-b-$V\n")
        .unwrap();
    build(&env, &["-t", "c"], &ctx);
    let out = build(&env, &["-t", "c", "--build-arg", "V=2"], &ctx);
    assert!(ran(&out, "run-b-2"), "{out}");
    assert_eq!(hits(&out), 2, "ARG and COPY: {out}");

    let out = build(&env, &["-t", "c", "--no-cache"], &ctx);
    assert_eq!(hits(&out), 0, "{out}");
    assert!(ran(&out, "run-b-1"), "{out}");
}

/// Multi-stage builds: COPY --from an earlier stage (by name and by
/// index) and from an image; FROM scratch gets only what is copied in;
/// a stage the target does not need is not built.
#[test]
fn stages_copy_from_each_other_and_scratch_starts_empty() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb AS build\nRUN mkdir /out && echo built > /out/artifact\n\
         FROM localhost/bb AS unused\nRUN echo never-runs\n\
         FROM scratch\nCOPY --from=build /out/artifact /artifact\nCOPY --from=0 /out /out\n\
         COPY --from=localhost/bb /bin/busybox /bin/busybox\nCMD [\"/bin/busybox\", \"cat\", \"/artifact\"]\n",
        &[],
    );
    let out = build(&env, &["-t", "multi"], &ctx);
    assert!(!out.lines().any(|l| l == "never-runs"), "{out}");
    assert!(out.starts_with("STEP 1/7: FROM localhost/bb AS build\n"), "{out}");
    assert_eq!(env.ok(&["run", "--rm", "multi"]), "built\n");
    let files = env.ok(&["run", "--rm", "multi", "/bin/busybox", "find", "/", "-xdev"]);
    let mut files: Vec<&str> =
        files.lines().filter(|f| !f.starts_with("/proc") && !f.starts_with("/sys") && !f.starts_with("/dev")).collect();
    files.sort();
    // (The runtime's mount points for /etc/hosts and friends, and /run/.containerenv, are the container's.)
    for want in ["/artifact", "/bin", "/bin/busybox", "/out", "/out/artifact"] {
        assert!(files.contains(&want), "{want}: {files:?}");
    }
    assert!(!files.contains(&"/bin/sh"), "only what was copied: {files:?}");
    let layers: Vec<Value> =
        serde_json::from_str(&env.ok(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", "multi"])).unwrap();
    assert_eq!(layers.len(), 3, "scratch has no layer of its own");
    // A stage copying from a later one (built with --target, so the
    // later one is not needed first).
    let text = "FROM localhost/bb AS first\nCOPY --from=later /x /x\nFROM localhost/bb AS later\n";
    std::fs::write(ctx.join("Containerfile"), text).unwrap();
    let e = env.fails(&["build", "--target", "first", ctx.to_str().unwrap()], 125);
    assert!(e.contains(":2: COPY --from=later: stage later is not built before this one"), "{e}");
}

/// ADD unpacks a local tar archive (plain or gzip'd, found by content,
/// not by name) into the destination; COPY copies it as a file; ADD of
/// another file copies it; a remote source is refused (builds are
/// offline).
#[test]
fn add_unpacks_local_archives() {
    let (env, _) = Env::with_busybox();
    let ctx = context(&env, "", &[("src/in/a.txt", "A\n"), ("plain.txt", "P\n")]);
    for (name, flags) in
        [("a.tar", "-cf"), ("a.tgz", "-czf"), ("disguised.bin", "-czf"), ("a.txz", "-cJf"), ("a.tbz2", "-cjf")]
    {
        let o = std::process::Command::new("tar")
            .args(["-C", ctx.join("src").to_str().unwrap(), flags, ctx.join(name).to_str().unwrap(), "in"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    std::fs::write(
        ctx.join("Containerfile"),
        "FROM localhost/bb\nADD a.tar /plain/\nADD a.tgz /gz\nADD disguised.bin /bin-x\nCOPY a.tar /copied.tar\nADD plain.txt /p.txt\n\
         ADD a.txz /xz\nADD a.tbz2 /bz2\n",
    )
    .unwrap();
    build(&env, &["-t", "added"], &ctx);
    let out = env.ok(&[
        "run",
        "--rm",
        "added",
        "sh",
        "-c",
        "cat /plain/in/a.txt /gz/in/a.txt /bin-x/in/a.txt /p.txt; test -f /copied.tar && echo copied; cat /xz/in/a.txt /bz2/in/a.txt",
    ]);
    assert_eq!(out, "A\nA\nA\nP\ncopied\nA\nA\n");
    std::fs::write(ctx.join("Containerfile"), "FROM localhost/bb\nADD https://example.com/x /x\n").unwrap();
    let e = env.fails(&["build", ctx.to_str().unwrap()], 125);
    assert!(e.contains(":2: ADD https://example.com/x: remote sources are not supported"), "{e}");
}

/// Here-documents: RUN's script alone, a command reading one (the marker
/// first, `<<EOF cat >file`: parse-dockerfile takes that form), and COPY of one as a file (named by its delimiter in a
/// directory destination).
#[test]
fn here_documents_in_run_and_copy() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\n\
         RUN <<EOF\necho script > /script.out\necho done\nEOF\n\
         RUN <<EOT cat > /cat.out\nline one\nline two\nEOT\n\
         COPY <<EOF /copied.txt\ncopied body\nEOF\n\
         COPY <<NOTE /dir/\nin a dir\nNOTE\n\
         ENV WHO=world\n\
         RUN cat <<EOF > /mid.out && cat <<-'RAW' >> /mid.out\nhello $WHO\nEOF\n\tnot $WHO\n\tRAW\n\
         RUN --network=none \\\n  cat <<A > /two.out; cat <<B >> /two.out\nfirst\nA\nsecond\nB\n\
         RUN echo $((1<<3)) > /shift.out\n",
        &[],
    );
    let out = build(&env, &["-t", "docs"], &ctx);
    assert!(out.lines().any(|l| l == "done"), "{out}");
    let seen = env.ok(&["run", "--rm", "docs", "cat", "/script.out", "/cat.out", "/copied.txt", "/dir/NOTE"]);
    assert_eq!(seen, "script\nline one\nline two\ncopied body\nin a dir\n");
    // Markers anywhere in the command, several at once, a quoted one
    // (no substitution) with its tabs stripped (`<<-`); `<<` that is not a
    // marker stays the shell's.
    let seen = env.ok(&["run", "--rm", "docs", "cat", "/mid.out", "/two.out", "/shift.out"]);
    assert_eq!(seen, "hello world\nnot $WHO\nfirst\nsecond\n8\n");
    // A changed document is a changed step: the cache misses.
    let text = std::fs::read_to_string(ctx.join("Containerfile")).unwrap().replace("second", "changed");
    std::fs::write(ctx.join("Containerfile"), text).unwrap();
    build(&env, &["-t", "docs"], &ctx);
    assert_eq!(env.ok(&["run", "--rm", "docs", "cat", "/two.out"]), "first\nchanged\n");
}

/// A COPY of here-documents and context files at once: all into the
/// destination directory, one layer; `--from` with a document is refused.
#[test]
fn copy_mixes_documents_and_files() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\nCOPY a.txt <<NOTE b.txt /dst/\nnote body\nNOTE\n",
        &[("a.txt", "A\n"), ("b.txt", "B\n")],
    );
    build(&env, &["-t", "mixed"], &ctx);
    assert_eq!(env.ok(&["run", "--rm", "mixed", "cat", "/dst/a.txt", "/dst/NOTE", "/dst/b.txt"]), "A\nnote body\nB\n");
    let h = history(&env, "mixed");
    let copy = h.last().unwrap()["created_by"].as_str().unwrap().to_string();
    assert!(copy.contains("COPY multi:") && copy.ends_with(" in /dst/ "), "{copy}");
    // The document's content is part of the step's key.
    std::fs::write(ctx.join("Containerfile"), "FROM localhost/bb\nCOPY a.txt <<NOTE b.txt /dst/\nchanged\nNOTE\n")
        .unwrap();
    let out = build(&env, &["-t", "mixed"], &ctx);
    assert!(!out.contains("Using cache"), "{out}");
    assert_eq!(env.ok(&["run", "--rm", "mixed", "cat", "/dst/NOTE"]), "changed\n");
    std::fs::write(
        ctx.join("Containerfile"),
        "FROM localhost/bb AS s\nFROM localhost/bb\nCOPY --from=s <<NOTE /x\nn\nNOTE\n",
    )
    .unwrap();
    let e = env.fails(&["build", ctx.to_str().unwrap()], 125);
    assert!(e.contains(":3: COPY --from: here-documents are not sources of an image"), "{e}");
}

/// COPY `--parents` keeps each source's path (below a `/./` in it).
#[test]
fn copy_parents_keeps_paths() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\n\
         COPY --parents app/x/y/a.txt lib/z /dst/\n\
         COPY --parents ./app/./x/*.txt /pivot/\n\
         RUN find /dst /pivot | sort > /found\n",
        &[("app/x/y/a.txt", "1"), ("app/x/b.txt", "2"), ("lib/z/c.txt", "3")],
    );
    build(&env, &["-t", "parents"], &ctx);
    assert_eq!(
        env.ok(&["run", "--rm", "parents", "cat", "/found"]),
        "/dst\n/dst/app\n/dst/app/x\n/dst/app/x/y\n/dst/app/x/y/a.txt\n/dst/lib\n/dst/lib/z\n/dst/lib/z/c.txt\n\
         /pivot\n/pivot/x\n/pivot/x/b.txt\n"
    );
}

/// COPY sources with wildcards (Go's filepath.Match per component, as
/// docker's), and `--chmod`: what the ignore file excludes does not match; nothing
/// matching, or several sources into a destination without a `/`, is an
/// error.
#[test]
fn copy_sources_with_wildcards() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\nCOPY *.txt /txt/\nCOPY sub/*/x.? /deep/\nCOPY --chmod=0750 sub /modes\n",
        &[
            ("a.txt", "A\n"),
            ("b.txt", "B\n"),
            ("skip.txt", "S\n"),
            ("c.md", "C\n"),
            ("sub/one/x.y", "1\n"),
            ("sub/two/x.z", "2\n"),
            (".dockerignore", "skip.txt\n"),
        ],
    );
    build(&env, &["-t", "globbed"], &ctx);
    let seen = env.ok(&["run", "--rm", "globbed", "sh", "-c", "ls /txt /deep"]);
    assert_eq!(seen, "/deep:\nx.y\nx.z\n\n/txt:\na.txt\nb.txt\n");
    // --chmod: every file and directory copied.
    let modes =
        env.ok(&["run", "--rm", "globbed", "stat", "-c", "%a %n", "/modes/one", "/modes/one/x.y", "/txt/a.txt"]);
    assert_eq!(modes, "750 /modes/one\n750 /modes/one/x.y\n644 /txt/a.txt\n");
    for (text, want) in [
        ("FROM localhost/bb\nCOPY *.nothing /x/\n", ":2: COPY *.nothing: no source files were specified"),
        (
            "FROM localhost/bb\nCOPY *.txt /x\n",
            ":2: COPY: with more than one source file, the destination must be a directory and end with a /",
        ),
    ] {
        std::fs::write(ctx.join("Containerfile"), text).unwrap();
        let e = env.fails(&["build", ctx.to_str().unwrap()], 125);
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

/// ONBUILD: the parent image keeps the triggers (as docker's format
/// does); a child built FROM it runs them first (a COPY from the child's
/// context), and does not keep them.
#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\nONBUILD RUN echo triggered > /t\nONBUILD COPY child.txt /child.txt\n",
        &[("child.txt", "from the child's context\n")],
    );
    build(&env, &["-t", "parent", "--format", "docker"], &ctx);
    let c = config(&env, "parent");
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo triggered > /t", "COPY child.txt /child.txt"]), "{c}");
    std::fs::write(ctx.join("Containerfile"), "FROM localhost/parent\nRUN cat /t /child.txt > /both\n").unwrap();
    build(&env, &["-t", "child"], &ctx);
    assert_eq!(env.ok(&["run", "--rm", "child", "cat", "/both"]), "triggered\nfrom the child's context\n");
    assert!(config(&env, "child").get("OnBuild").is_none_or(Value::is_null), "the child keeps the triggers");
}

/// One entry of an exported root filesystem: what a comparison of two
/// builds' trees looks at (times differ by nature).
fn tree(export: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut a = tar::Archive::new(export);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        let path = e.path().unwrap().to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_string();
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let size = if h.entry_type().is_file() { h.size().unwrap() } else { 0 };
        let desc = format!(
            "{:?} {:o} {}:{} {size} {link}",
            h.entry_type(),
            h.mode().unwrap() & 0o7777,
            h.uid().unwrap(),
            h.gid().unwrap()
        );
        out.insert(path, desc);
    }
    out
}

/// The same Containerfile built by buildah (Debian's 1.28, on a store of
/// its own with the same base image) gives the same config fields and the
/// same file tree, exported from a container of each image.
#[test]
fn buildah_builds_the_same_image() {
    let (env, _) = Env::with_busybox();
    let podman = common::podman::Podman::beside(&env);
    let ctx = context(
        &env,
        "FROM localhost/bb AS tools\nRUN mkdir -p /opt/tool && echo tool > /opt/tool/bin && chmod 755 /opt/tool/bin\n\
         FROM localhost/bb\n\
         ARG GREETING=hi\n\
         ENV APP_HOME=/app PATH=/app/bin:/usr/bin:/bin\n\
         WORKDIR $APP_HOME\n\
         COPY --chown=1:2 files/ ./files/\n\
         COPY one.txt /etc/one.txt\n\
         COPY --from=tools /opt/tool /opt/tool\n\
         RUN mkdir -p bin && echo \"$GREETING\" > greeting && ln -s greeting link && chmod 640 greeting && rm /etc/one.txt\n\
         LABEL org.example.name=\"the app\" version=1\n\
         EXPOSE 8080 9090/udp\n\
         VOLUME /data\n\
         STOPSIGNAL SIGTERM\n\
         HEALTHCHECK --interval=30s --timeout=3s --retries=4 CMD [\"true\"]\n\
         USER 1:2\n\
         ENTRYPOINT [\"/bin/sh\"]\n\
         CMD [\"-c\", \"cat greeting\"]\n",
        &[("files/a.txt", "A\n"), ("files/sub/b.txt", "B\n"), ("one.txt", "1\n")],
    );
    // Docker's format: buildah drops HEALTHCHECK (and ONBUILD, SHELL) from
    // OCI images, with a warning; berth keeps them in both.
    build(&env, &["-t", "cmp", "--format", "docker"], &ctx);
    let bud = ["bud", "--network", "none", "--layers", "--format", "docker", "-t", "cmp", ctx.to_str().unwrap()];
    let o = podman.buildah(&bud).output().unwrap();
    assert!(o.status.success(), "buildah: {}", stderr(&o));

    let ours = config(&env, "cmp");
    let theirs: Value =
        serde_json::from_str(&podman.ok(&["image", "inspect", "--format", "{{json .Config}}", "localhost/cmp"]))
            .unwrap();
    for field in ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "StopSignal"] {
        assert_eq!(ours[field], theirs[field], "{field}: berth {ours} buildah {theirs}");
    }
    // (podman shows a Docker image's healthcheck apart from the config.)
    let check: Value =
        serde_json::from_str(&podman.ok(&["image", "inspect", "--format", "{{json .HealthCheck}}", "localhost/cmp"]))
            .unwrap();
    assert_eq!(ours["Healthcheck"], check);
    let mut labels = theirs["Labels"].clone();
    labels.as_object_mut().unwrap().remove("io.buildah.version");
    assert_eq!(ours["Labels"], labels);

    // The trees, exported from a container of each (never started).
    let export = |out: std::process::Output| {
        assert!(out.status.success(), "{}", stderr(&out));
        tree(&out.stdout)
    };
    let id = env.ok(&["create", "cmp"]);
    let ours = export(env.run(&["export", id.trim()]));
    let id = podman.ok(&["create", "localhost/cmp"]);
    let theirs = export(podman.cmd(&["export", id.trim()]).output().unwrap());
    // What each runtime leaves as mount points of RUN's container (empty
    // files and directories) is not the image's content.
    let runtime_made = |p: &str| {
        matches!(
            p,
            "etc/hosts" | "etc/hostname" | "etc/resolv.conf" | "run" | "run/.containerenv" | "proc" | "sys" | "dev"
        ) || p.starts_with("dev/")
    };
    let ours: Vec<_> = ours.iter().filter(|(p, _)| !runtime_made(p)).collect();
    let theirs: Vec<_> = theirs.iter().filter(|(p, _)| !runtime_made(p)).collect();
    let only = |a: &[(&String, &String)], b: &[(&String, &String)]| -> Vec<String> {
        a.iter().filter(|e| !b.contains(e)).map(|(p, d)| format!("{p}: {d}")).collect()
    };
    assert!(ours == theirs, "berth only: {:?}\nbuildah only: {:?}", only(&ours, &theirs), only(&theirs, &ours));
}

/// A built image (layers from RUN and COPY) pushes to a registry and, pulled
/// into another store, runs the same.
#[test]
fn a_built_image_pushes_and_runs_elsewhere() {
    let reg = regharness::TestRegistry::start();
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\nRUN echo built > /built\nCOPY a.txt /a.txt\nCMD [\"cat\", \"/built\", \"/a.txt\"]\n",
        &[("a.txt", "A\n")],
    );
    build(&env, &["-t", "pushme"], &ctx);
    let name = reg.name("pushme:1");
    env.ok(&["push", "--tls-verify=false", "pushme", &format!("docker://{name}")]);
    let other = Env::new();
    other.ok(&["pull", "-q", "--tls-verify=false", &name]);
    assert_eq!(other.ok(&["run", "--rm", &name]), "built\nA\n");
    let id = |e: &Env, n: &str| e.ok(&["image", "inspect", "--format", "{{.Id}}", n]);
    assert_eq!(id(&other, &name), id(&env, "pushme"), "the pulled image is another");
}

/// A base image the store lacks is pulled (podman build's `--pull`
/// default, missing); `--pull=never` refuses it, naming the line.
#[test]
fn a_missing_base_is_pulled_unless_told_not_to() {
    let reg = regharness::TestRegistry::start();
    let (src, _) = Env::with_busybox();
    let name = reg.name("base:1");
    src.ok(&["push", "--tls-verify=false", "bb", &format!("docker://{name}")]);
    let env = Env::new();
    let ctx = context(&env, &format!("FROM {name}\nRUN echo on-a-pulled-base > /x\n"), &[]);
    let e = env.fails(&["build", "--pull=never", ctx.to_str().unwrap()], 125);
    assert!(e.contains(":1: ") && e.contains("image not known"), "{e}");
    build(&env, &["--tls-verify=false", "-t", "onpulled"], &ctx);
    assert_eq!(env.ok(&["run", "--rm", "onpulled", "cat", "/x"]), "on-a-pulled-base\n");
}

/// RUN --mount=type=cache: a directory kept between builds (a second build
/// without cache sees what the first left), not in the image;
/// type=tmpfs: a fresh tmpfs.
#[test]
fn run_cache_and_tmpfs_mounts() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "FROM localhost/bb\n\
         RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/log; wc -l < /cache/log > /count'\n\
         RUN --mount=type=tmpfs,target=/scratch sh -c 'grep \" /scratch \" /proc/mounts | cut -d\" \" -f3 > /fs'\n",
        &[],
    );
    build(&env, &["-t", "m1"], &ctx);
    build(&env, &["--no-cache", "-t", "m2"], &ctx);
    assert_eq!(env.ok(&["run", "--rm", "m1", "cat", "/count"]).trim(), "1");
    assert_eq!(env.ok(&["run", "--rm", "m2", "cat", "/count"]).trim(), "2", "the cache was not kept");
    assert_eq!(env.ok(&["run", "--rm", "m2", "cat", "/fs"]), "tmpfs\n");
    // Neither the cache's content nor its mount point is in the image
    // (BuildKit takes the mount points it made out again).
    let o = env.run(&["run", "--rm", "m2", "ls", "-A", "/cache"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("No such file"), "{}", stderr(&o));
}

/// berth with `args`, `input` on its stdin.
fn with_stdin(env: &Env, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut c = env.cmd(args);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// RUN's other mounts, BuildKit's: secrets (a file, with the mode and
/// owner asked for, or a variable) that never reach a layer; binds of the
/// context (read-only, or writable with the writes thrown away, ignored
/// files left out) and of an earlier stage; a cache's owner; the mount
/// points they needed are not in the image. RUN --network and --security.
#[test]
fn run_secret_and_bind_mounts() {
    let (env, _) = Env::with_busybox();
    let secret = env.path("token");
    std::fs::write(&secret, "s3cr3t-value").unwrap();
    let ctx = context(
        &env,
        "FROM localhost/bb AS tools
         RUN mkdir /opt && echo tool > /opt/tool
         FROM localhost/bb
         RUN --mount=type=secret,id=tok sh -c 'cat /run/secrets/tok > /dev/null && stat -c \"%a %u\" /run/secrets/tok > /secret-file'
         RUN --mount=type=secret,id=tok,env=TOK,target=/etc/tok,mode=0440,uid=7 sh -c 'test \"$TOK\" = \"$(cat /etc/tok)\" && echo ${#TOK} > /secret-length && stat -c \"%a %u\" /etc/tok > /secret-env'
         RUN --mount=type=secret,id=absent true
         RUN --mount=type=bind,source=src,target=/src sh -c 'cat /src/a.txt /src/sub/b.txt > /bound; touch /src/new 2> /dev/null || echo read-only >> /bound; ls /src > /listed'
         RUN --mount=type=bind,source=src,target=/src,rw sh -c 'echo changed > /src/a.txt && touch /src/new && cat /src/a.txt > /written'
         RUN --mount=type=bind,from=tools,source=/opt,target=/mnt/tools cp /mnt/tools/tool /from-stage
         RUN --mount=type=cache,target=/var/cache/c,uid=5,gid=6 stat -c '%u:%g' /var/cache/c > /cache-owner
         RUN --network=none sh -c 'grep -c : /proc/net/dev > /interfaces'
",
        &[("src/a.txt", "A\n"), ("src/sub/b.txt", "B\n"), ("src/secret.key", "ignored\n"), (".containerignore", "src/*.key\n")],
    );
    let secret_arg = format!("id=tok,src={}", secret.display());
    build(&env, &["--secret", &secret_arg, "-t", "mounts"], &ctx);
    let run = |cmd: &str| env.ok(&["run", "--rm", "mounts", "sh", "-c", cmd]);
    assert_eq!(run("cat /secret-file /secret-env /secret-length"), "400 0\n440 7\n12\n");
    assert_eq!(run("cat /bound"), "A\nB\nread-only\n");
    assert_eq!(run("cat /listed"), "a.txt\nsub\n", "the ignored file is in the bind");
    assert_eq!(run("cat /written"), "changed\n");
    assert_eq!(std::fs::read_to_string(ctx.join("src/a.txt")).unwrap(), "A\n", "a rw bind wrote to the context");
    assert!(!ctx.join("src/new").exists(), "a rw bind wrote to the context");
    assert_eq!(run("cat /from-stage /cache-owner"), "tool\n5:6\n");
    assert_eq!(run("cat /interfaces"), "1\n", "RUN --network=none has more than lo");

    // No trace of the secret, nor of the mount points, in the image.
    let id = env.ok(&["create", "mounts"]);
    let export = env.run(&["export", id.trim()]);
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(!export.stdout.windows(12).any(|w| w == b"s3cr3t-value"), "the secret is in the image");
    env.ok(&["rm", id.trim()]);
    let files = tree(&export.stdout);
    for gone in ["run/secrets", "etc/tok", "src", "mnt", "var", "var/cache/c"] {
        assert!(!files.contains_key(gone), "{gone} is in the image: {files:?}");
    }
    // Nor the runtime's own mount points, where the base had none.
    let base_id = env.ok(&["create", "localhost/bb"]);
    let base_export = env.run(&["export", base_id.trim()]);
    env.ok(&["rm", base_id.trim()]);
    let base = tree(&base_export.stdout);
    for point in ["etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv", "run"] {
        assert!(base.contains_key(point) || !files.contains_key(point), "{point} is in the image: {files:?}");
    }
    let history = env.ok(&["image", "history", "--no-trunc", "mounts"]);
    assert!(!history.contains("s3cr3t"), "{history}");

    // Errors: a required secret not given; BuildKit's insecure mode; an
    // unknown mount type; a bind source missing from the context.
    for (line, says) in [
        ("RUN --mount=type=secret,id=gone,required true", "secret \"gone\" was not given"),
        ("RUN --security=insecure true", "RUN --security=insecure: not allowed"),
        ("RUN --mount=type=ssh true", "type=ssh: not supported"),
        ("RUN --mount=type=bind,source=nothere,target=/x true", "no such file or directory in the build context"),
        ("RUN --network=bridge2 true", "not a network mode"),
    ] {
        std::fs::write(ctx.join("Containerfile"), format!("FROM localhost/bb\n{line}\n")).unwrap();
        let e = env.fails(&["build", ctx.to_str().unwrap()], 125);
        assert!(e.contains("Containerfile:2: ") && e.contains(says), "{line}: {e}");
    }
    assert!(env.ok(&["ps", "-aq"]).is_empty(), "a build container was left");
    // The builds' scratch directories (secrets, binds) are gone.
    let left: Vec<_> = std::fs::read_dir(env.runroot.join("build")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Contexts that are not directories: a tar archive (gzip'd too), one on
/// stdin, a Containerfile alone on stdin. `--build-arg-file`; the
/// platform args BuildKit predefines, and the proxy args a RUN sees
/// undeclared; `--platform` other than the host's is refused.
#[test]
fn tar_contexts_arg_files_and_platform_args() {
    let (env, _) = Env::with_busybox();
    let ctx = context(
        &env,
        "ARG BASE=localhost/bb\n         FROM $BASE\n         ARG TARGETARCH\n         ARG FROMFILE\n         COPY f.txt /\n         RUN echo \"$TARGETARCH $FROMFILE $HTTP_PROXY $(cat /f.txt)\" > /out\n",
        &[("f.txt", "in-tar")],
    );
    let tgz = env.path("ctx.tgz");
    let o = std::process::Command::new("tar").arg("-C").arg(&ctx).arg("-czf").arg(&tgz).arg(".").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let args = env.path("args.conf");
    std::fs::write(&args, "# a comment\nFROMFILE=from-file\n\nHTTP_PROXY=overridden\n").unwrap();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let a = args.to_str().unwrap();
    env.ok(&[
        "build",
        "--build-arg-file",
        a,
        "--build-arg",
        "HTTP_PROXY=http://proxy:3128",
        "-t",
        "fromtgz",
        tgz.to_str().unwrap(),
    ]);
    assert_eq!(
        env.ok(&["run", "--rm", "fromtgz", "cat", "/out"]),
        format!("{arch} from-file http://proxy:3128 in-tar\n")
    );
    let env_of = env.ok(&["image", "inspect", "--format", "{{json .Config.Env}}", "fromtgz"]);
    assert!(!env_of.contains("PROXY"), "a proxy arg is in the image: {env_of}");

    let platform = format!("linux/{arch}");
    let o = with_stdin(
        &env,
        &["build", "--no-cache", "--platform", &platform, "--build-arg-file", a, "-t", "fromstdin", "-"],
        &std::fs::read(&tgz).unwrap(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(env.ok(&["run", "--rm", "fromstdin", "cat", "/out"]), format!("{arch} from-file overridden in-tar\n"));

    let o = with_stdin(&env, &["build", "-t", "fileonly", "-"], b"FROM localhost/bb\nRUN ls -A / > /root-list\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!env.ok(&["run", "--rm", "fileonly", "cat", "/root-list"]).contains("f.txt"));

    let other = if arch == "arm64" { "linux/amd64" } else { "linux/arm64" };
    // FROM --platform: the host's (as the predefined args name it) builds,
    // another is refused at its line.
    std::fs::write(ctx.join("Containerfile"), "FROM --platform=$BUILDPLATFORM localhost/bb\nRUN true\n").unwrap();
    env.ok(&["build", ctx.to_str().unwrap()]);
    std::fs::write(ctx.join("Containerfile"), format!("FROM --platform={other} localhost/bb\n")).unwrap();
    let e = env.fails(&["build", ctx.to_str().unwrap()], 125);
    assert!(e.contains("Containerfile:1: FROM --platform=") && e.contains("this host's platform only"), "{e}");
    let e = env.fails(&["build", "--platform", other, ctx.to_str().unwrap()], 125);
    assert!(e.contains("this host's platform only") && e.contains(other), "{e}");
    let junk = env.path("junk.tar");
    std::fs::write(&junk, "not an archive").unwrap();
    let e = env.fails(&["build", junk.to_str().unwrap()], 125);
    assert!(e.contains("the build context") && e.lines().count() == 1, "{e}");
}

/// The front end as podman's: a context without Containerfile uses its
/// Dockerfile; `-f -` reads the file from stdin; `--build-arg NAME` alone
/// takes the environment's value; `image build` and `buildx build` are
/// `build`; no file at all is a one-line error.
#[test]
fn dockerfile_stdin_env_build_args_and_aliases() {
    let (env, _) = Env::with_busybox();
    let ctx = env.path("ctx");
    std::fs::create_dir(&ctx).unwrap();
    let e = env.fails(&["build", ctx.to_str().unwrap()], 125);
    assert!(e.contains("no Containerfile or Dockerfile specified or found in context directory"), "{e}");
    std::fs::write(ctx.join("Dockerfile"), "FROM localhost/bb\nARG FROM_ENV\nRUN echo \"$FROM_ENV\" > /arg\n").unwrap();
    let o = env
        .cmd(&["image", "build", "--build-arg", "FROM_ENV", "-t", "viaenv", ctx.to_str().unwrap()])
        .env("FROM_ENV", "from the environment")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(env.ok(&["run", "--rm", "viaenv", "cat", "/arg"]), "from the environment\n");

    let mut c = env.cmd(&["buildx", "build", "-f", "-", "-t", "viastdin", ctx.to_str().unwrap()]);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"FROM localhost/bb\nRUN echo stdin > /s\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(env.ok(&["run", "--rm", "viastdin", "cat", "/s"]), "stdin\n");
}

/// The layers of image `name`, uncompressed, from a save in an OCI
/// directory: each layer's entry names (`./` stripped).
fn layer_entries(env: &Env, name: &str) -> Vec<Vec<String>> {
    let dir = env.path(&format!("saved-{name}"));
    env.ok(&["save", "--format", "oci-dir", "-o", dir.to_str().unwrap(), name]);
    let blob = |d: &str| dir.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let data = std::fs::read(blob(l["digest"].as_str().unwrap())).unwrap();
            let mut a = tar::Archive::new(data.as_slice());
            a.entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().to_string_lossy().trim_start_matches("./").to_string())
                .collect()
        })
        .collect()
}

/// `--squash` makes the build's steps one layer over the base's,
/// `--squash-all` the whole filesystem one layer; the history is podman's
/// (every step's entry an empty layer but the last; `--squash-all` without
/// the base's). `--annotation` lands on the manifest. `images` hides the
/// build's intermediate images unless `--all`.
#[test]
fn squash_annotations_and_intermediate_images() {
    let (env, _) = Env::with_busybox();
    let ctx =
        context(&env, "FROM localhost/bb\nRUN echo a > /a\nENV X=1\nRUN echo b > /b && rm /a\nCMD [\"sh\"]\n", &[]);
    build(&env, &["-t", "layered"], &ctx);
    build(&env, &["--squash", "-t", "squashed"], &ctx);
    build(&env, &["--squash-all", "--annotation", "org.example.kind=flat", "--annotation", "b=2", "-t", "flat"], &ctx);
    let base = layer_entries(&env, "localhost/bb");
    assert_eq!(layer_entries(&env, "layered").len(), base.len() + 2);

    let squashed = layer_entries(&env, "squashed");
    assert_eq!(squashed.len(), base.len() + 1);
    let top = squashed.last().unwrap();
    assert!(top.iter().any(|e| e == "b"), "{top:?}");
    assert!(!top.iter().any(|e| e == "a" || e == ".wh.a"), "/a or its whiteout: {top:?}");
    assert!(!top.iter().any(|e| e.starts_with("bin/")), "the base's files are in the new layer: {top:?}");
    let flat = layer_entries(&env, "flat");
    assert_eq!(flat.len(), 1);
    assert!(flat[0].iter().any(|e| e == "b") && flat[0].iter().any(|e| e == "bin/busybox"), "{:?}", flat[0]);
    for image in ["squashed", "flat"] {
        assert_eq!(
            env.ok(&["run", "--rm", image, "sh", "-c", "cat /b; ls /a 2>&1; echo $X"]),
            "b\nls: /a: No such file or directory\n1\n"
        );
    }

    let empties = |image: &str| -> Vec<bool> {
        history(&env, image).iter().map(|h| h["empty_layer"].as_bool().unwrap_or(false)).collect()
    };
    let base_entries = history(&env, "localhost/bb").len();
    let mut want = vec![false; base_entries];
    want.extend([true, true, true, false]);
    assert_eq!(empties("squashed"), want);
    assert_eq!(empties("flat"), vec![true, true, true, false]);

    let annotations = env.ok(&["image", "inspect", "--format", "{{json .Annotations}}", "flat"]);
    let annotations: Value = serde_json::from_str(&annotations).unwrap();
    assert_eq!(annotations, serde_json::json!({"org.example.kind": "flat", "b": "2"}));

    // The three builds' steps made images of their own (the cache): not
    // listed without --all.
    let listed = env.ok(&["images", "-q"]);
    let all = env.ok(&["images", "-a", "-q"]);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    // The steps of the first build: RUN, ENV, RUN (CMD's is the final).
    assert_eq!(all.lines().count(), listed.lines().count() + 3, "{all}");
}

/// `--jobs 2` builds stages that do not need each other at once: each of
/// two stages waits (through a cache mount both see) for the other to have
/// started, which one after another never happens. The final stage, which
/// needs both, waits for them; the result is the one `--jobs 1` gives.
#[test]
fn jobs_build_independent_stages_at_once() {
    let (env, _) = Env::with_busybox();
    let meet = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id=meet,target=/m sh -c 'touch /m/{me}; i=0; \
             while [ ! -e /m/{other} ]; do i=$((i+1)); [ $i -gt 40 ] && exit 7; sleep 0.1; done; echo {me} > /{me}'\n"
        )
    };
    let text = format!(
        "FROM localhost/bb AS a\n{}FROM localhost/bb AS b\n{}FROM localhost/bb\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n\
         RUN cat /a /b > /both\n",
        meet("a", "b"),
        meet("b", "a")
    );
    let ctx = context(&env, &text, &[]);
    let out = build(&env, &["--jobs", "2", "-t", "together"], &ctx);
    assert_eq!(env.ok(&["run", "--rm", "together", "cat", "/both"]), "a\nb\n");
    // Each stage's lines come whole, numbered as without --jobs.
    let steps: Vec<&str> = out.lines().filter(|l| l.starts_with("STEP ")).collect();
    assert_eq!(steps.len(), 8, "{out}");
    for want in ["STEP 1/8: FROM localhost/bb AS a", "STEP 3/8: FROM localhost/bb AS b", "STEP 5/8: FROM localhost/bb"]
    {
        assert!(steps.contains(&want), "{want} missing: {out}");
    }
    // One after another, the first stage waits in vain.
    let cache = env.root.join("build-cache-mounts");
    for dir in std::fs::read_dir(&cache).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
    }
    let e = env.fails(&["build", "--no-cache", "--jobs", "1", ctx.to_str().unwrap()], 7);
    assert!(e.contains("exit status 7"), "{e}");
    // A failing stage fails the build with its code, the other finishing.
    std::fs::write(ctx.join("Containerfile"), "FROM localhost/bb AS a\nRUN exit 4\nFROM localhost/bb AS b\nRUN true\nFROM localhost/bb\nCOPY --from=a / /a\nCOPY --from=b / /b\n").unwrap();
    let e = env.fails(&["build", "--jobs", "2", ctx.to_str().unwrap()], 4);
    assert!(e.contains("RUN exit 4"), "{e}");
    assert!(env.ok(&["ps", "-aq"]).is_empty(), "a build container was left");
}

/// `--cache-to` pushes each step's image to a registry repository, tagged
/// with the step's cache key; another store building the same file with
/// `--cache-from` that repository pulls them instead of running the steps
/// (every step says so), and gets the same image. A repository with a
/// tag is refused.
#[test]
fn a_registry_cache_is_shared_between_stores() {
    let reg = regharness::TestRegistry::start();
    let (env, _) = Env::with_busybox();
    let ctx =
        context(&env, "FROM localhost/bb\nRUN echo ran >> /ran\nCOPY a.txt /a.txt\nENV X=1\n", &[("a.txt", "A\n")]);
    let repo = reg.name("buildcache");
    build(&env, &["--tls-verify=false", "--cache-to", &repo, "-t", "first"], &ctx);
    let (other, _) = Env::with_busybox();
    let out = build(&other, &["--tls-verify=false", "--cache-from", &repo, "-t", "second"], &ctx);
    let steps: Vec<&str> = out.lines().filter(|l| l.starts_with("STEP ")).collect();
    let hits = out.lines().filter(|l| l.starts_with("--> Using cache ")).count();
    assert_eq!(hits, steps.len() - 1, "every step after FROM from the registry: {out}");
    let id = |e: &Env, n: &str| e.ok(&["image", "inspect", "--format", "{{.Id}}", n]);
    assert_eq!(id(&other, "second"), id(&env, "first"));
    assert_eq!(other.ok(&["run", "--rm", "second", "cat", "/ran", "/a.txt"]), "ran\nA\n");
    // The cache's images are not left named in the store.
    assert!(!other.ok(&["images", "-a", "--format", "{{.Repository}}"]).contains("buildcache"));
    // A changed file misses from its COPY on, in the other store too.
    std::fs::write(ctx.join("a.txt"), "B\n").unwrap();
    let out = build(&other, &["--tls-verify=false", "--cache-from", &repo, "-t", "third"], &ctx);
    assert_eq!(out.lines().filter(|l| l.starts_with("--> Using cache ")).count(), 1, "{out}");

    let e = env.fails(&["build", "--cache-to", &format!("{repo}:tag"), ctx.to_str().unwrap()], 125);
    assert!(e.contains("without a tag or digest"), "{e}");
}

/// `--layers=false` (buildah's default): no cache read or written, the
/// steps make one layer over the base's, and no image of a step is kept.
#[test]
fn layers_false_makes_one_layer_and_keeps_no_step_images() {
    let (env, _) = Env::with_busybox();
    let ctx = context(&env, "FROM localhost/bb\nRUN echo a > /a\nENV X=1\nRUN echo b > /b\n", &[]);
    let before = env.ok(&["images", "-a", "-q"]).lines().count();
    let out = build(&env, &["--layers=false", "-t", "single"], &ctx);
    assert!(!out.contains("Using cache"), "{out}");
    let id = env.ok(&["image", "inspect", "--format", "{{.Id}}", "single"]);
    assert!(out.contains(&format!("--> {}", &id.trim()[..11])), "the squashed image is not the one said: {out}");
    assert_eq!(env.ok(&["images", "-a", "-q"]).lines().count(), before + 1, "a step's image was kept");
    let layers = |image: &str| env.ok(&["image", "inspect", "--format", "{{len .RootFS.Layers}}", image]);
    assert_eq!(
        layers("single").trim().parse::<usize>().unwrap(),
        layers("localhost/bb").trim().parse::<usize>().unwrap() + 1
    );
    assert_eq!(env.ok(&["run", "--rm", "single", "sh", "-c", "cat /a /b; echo $X"]), "a\nb\n1\n");
    // Nothing was cached: a layered build runs every step.
    let out = build(&env, &["-t", "layered"], &ctx);
    assert!(!out.contains("Using cache"), "{out}");
}

/// `-f` names a file outside the context; a `<file>.dockerignore` beside
/// it is the ignore file (over the context's own).
#[test]
fn a_containerfile_outside_the_context_with_its_own_ignore_file() {
    let (env, _) = Env::with_busybox();
    let ctx = context(&env, "", &[("a.txt", "A\n"), ("secret.txt", "S\n"), (".dockerignore", "a.txt\n")]);
    std::fs::remove_file(ctx.join("Containerfile")).unwrap();
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let file = elsewhere.join("App.df");
    std::fs::write(&file, "FROM localhost/bb\nCOPY . /ctx/\nRUN ls -A /ctx > /listed\n").unwrap();
    std::fs::write(elsewhere.join("App.df.dockerignore"), "secret.txt\n").unwrap();
    build(&env, &["-f", file.to_str().unwrap(), "-t", "outside"], &ctx);
    assert_eq!(env.ok(&["run", "--rm", "outside", "cat", "/listed"]), ".dockerignore\na.txt\n");
}

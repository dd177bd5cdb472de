#!/usr/bin/env node
// An offline stand-in for nslookup, for the subprocess notebook: it reads commands on stdin,
// one a line, as interactive nslookup does ("set q=mx", a domain name, "exit"), and answers
// from the small table below instead of asking a DNS server.
"use strict";
const readline = require("node:readline");

const TABLE = {
  "python.org": {
    a: ["151.101.0.223", "151.101.64.223"],
    mx: ["50 mail.python.org."],
    ns: ["ns-2046.awsdns-63.co.uk.", "ns-981.awsdns-58.net."],
  },
  "nodejs.org": {
    a: ["104.20.22.46", "104.20.23.46"],
    mx: ["10 aspmx.l.google.com."],
    ns: ["ns1.cloudflare.com.", "ns2.cloudflare.com."],
  },
  "example.com": { a: ["93.184.215.14"], mx: ["0 ."], ns: ["a.iana-servers.net.", "b.iana-servers.net."] },
  localhost: { a: ["127.0.0.1"], mx: [], ns: [] },
};
const LABELS = { a: "Address: ", mx: "mail exchanger = ", ns: "nameserver = " };

let type = "a";
const say = (text) => process.stdout.write(text + "\n");
// nslookup prompts only at a terminal: with stdin from a pipe, its output is the answers alone.
const prompt = () => {
  if (process.stdin.isTTY) process.stdout.write("> ");
};

function answer(name) {
  const entry = TABLE[name.toLowerCase().replace(/\.$/, "")];
  say("Server:\t\tforklab-offline-table");
  say("Address:\t127.0.0.1#53\n");
  if (!entry) {
    say(`** server can't find ${name}: NXDOMAIN\n`);
    return;
  }
  const records = entry[type] ?? [];
  if (records.length === 0) {
    say(`*** Can't find ${name}: No answer\n`);
    return;
  }
  say("Non-authoritative answer:");
  for (const record of records) say(type === "a" ? `Name:\t${name}\n${LABELS.a}${record}` : `${name}\t${LABELS[type]}${record}`);
  say("");
}

const lines = readline.createInterface({ input: process.stdin, terminal: false });
prompt();
lines.on("line", (line) => {
  const command = line.trim();
  const set = /^set\s+(?:q|querytype|type)=(\w+)$/i.exec(command);
  if (command === "exit") {
    lines.close();
    return;
  }
  if (set) {
    const wanted = set[1].toLowerCase();
    if (wanted in LABELS) type = wanted;
    else process.stderr.write(`unknown query type: ${set[1]}\n`);
  } else if (command !== "") {
    answer(command);
  }
  prompt();
});
lines.on("close", () => process.exit(0));

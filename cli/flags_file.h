// --flags-file: a subcommand's flags, one per line, read at start and again
// on SIGHUP. Every line is checked on its own first (so that an error names
// its line and flag), then the command line and the whole file are parsed
// together as one command line. Socket-free; the CLI11 app comes from the
// caller, fresh for each parse.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "reload/flags_text.h"
#include "reload/takeover.h"

namespace corral::cli {

using reload::FlagsLine;
using reload::parseFlagsText;

// Makes a fresh app with the subcommand's options bound to a fresh flags
// value, parses `args` into it and checks the result; a message (CLI11's or
// the check's, naming the flag) when it is not a valid configuration.
using FlagsCheck = std::function<Status(const std::vector<std::string>& args)>;

// The command line `commandLine` plus the file's flags, parsed as one;
// errors say "<path>:<line>: <flag>: <reason>" when one line is to blame.
// Returns the combined arguments for `check` to parse for real.
Result<std::vector<std::string>> argsWithFlagsFile(const std::vector<std::string>& commandLine,
                                                   const std::string& path,
                                                   const FlagsCheck& check);

// Runs CLI11 on `args` (in order) for `app`; CLI11's message on error.
Status parseArgs(CLI::App& app, const std::vector<std::string>& args);

// This process's arguments after the subcommand `name` (/proc/self/cmdline).
std::vector<std::string> subcommandArgs(const std::string& name);
// Starts this binary again with this process's own arguments; its pid.
Result<int> respawnSelf();

// SIGHUP with --flags-file `path`: `validate` parses the command line and the
// file completely; an invalid file changes nothing (the log says what is
// wrong), a valid one is applied by a self-takeover (needs `takeover`).
void reloadFlagsFile(const std::string& path, const std::function<Status()>& validate,
                     const reload::Takeover* takeover);

}  // namespace corral::cli

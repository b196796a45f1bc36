-- Runs every experiment script of the paper that exists (tau.experiment.SCRIPTS, in order) at
-- one scale, each in its own process with its output in <results>/<name>/log.txt, then writes
-- the report. `make reproduce` is the default scale, `make reproduce-quick` the smoke scale.
--   bin/tau experiments/reproduce.lua [--scale smoke] [--results results/smoke] [--only a,b]
local argparse = require "argparse"
local util = require "tau.util"
local X = require "tau.experiment"

local parser = argparse("reproduce.lua", "Run the experiment scripts at one scale, then write the report.")
parser:option("--scale", "smoke | default | paper.", "default"):convert(X.choice("smoke", "default", "paper"))
parser:option("--results", "Results folder (default: results, or results/smoke at the smoke scale).")
parser:option("--only", "Comma-separated scripts to run (default: all that exist)."):convert(X.list)
parser:option("--args", "Extra flags passed to every script.", "")
local args = parser:parse()
local results = args.results or (args.scale == "smoke" and "results/smoke" or "results")
local tau_bin = arg and arg[-1] or "bin/tau"
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local wanted
if args.only then
  wanted = {}
  for _, n in ipairs(args.only) do
    local known = false
    for _, s in ipairs(X.SCRIPTS) do known = known or s == n end
    if not known then parser:error("--only: unknown script '" .. n .. "' (" .. table.concat(X.SCRIPTS, ", ") .. ")") end
    wanted[n] = true
  end
end

util.mkdir(results)
local runs, failed, t_all = {}, 0, tau.time()
for _, name in ipairs(X.SCRIPTS) do
  local script = "experiments/" .. name .. ".lua"
  local entry = {name = name, script = script}
  if wanted and not wanted[name] then
    entry.status = "not selected"
  elseif not io.open(script) then
    entry.status = "absent"
  else
    local out = results .. "/" .. name
    util.mkdir(out)
    local cmd = string.format("%s %s --scale %s --out %s --cache %s %s > %s 2>&1", q(tau_bin), q(script), args.scale,
                              q(out), q(results .. "/cache"), args.args, q(out .. "/log.txt"))
    io.stdout:write(string.format("%-22s ", name))
    io.stdout:flush()
    local t0 = tau.time()
    local ok, _, code = os.execute(cmd)
    entry.seconds, entry.command, entry.log = tau.time() - t0, cmd, out .. "/log.txt"
    entry.status = ok and "ok" or ("failed (exit " .. tostring(code) .. ")")
    if not ok then failed = failed + 1 end
    print(string.format("%-24s %s", entry.status, util.format_time(entry.seconds)))
    if not ok then
      local log = util.read_file(entry.log) or ""
      print("  last lines of " .. entry.log .. ":\n  " .. (log:sub(-1200):gsub("\n", "\n  ")))
    end
  end
  runs[#runs + 1] = entry
end
local total = tau.time() - t_all
util.write_file(results .. "/reproduce.json", util.json({provenance = util.provenance({scale = args.scale}),
                                                         scripts = runs, seconds = total}, 2) .. "\n")
print(string.format("%d script(s) run, %d failed, %s in all", (function()
  local n = 0 for _, r in ipairs(runs) do if r.seconds then n = n + 1 end end return n end)(), failed,
  util.format_time(total)))
local ok = os.execute(string.format("%s experiments/report.lua --results %s", q(tau_bin), q(results)))
if failed > 0 or not ok then os.exit(1) end

-- Runs every experiment script of the paper that exists (tau.experiment.SCRIPTS, in order) at
-- one scale, each in its own process with its output in <results>/<name>/log.txt, and the
-- accuracy sweep again with the learning rate scaled by τ, then writes the report.
-- `make reproduce` is the default scale, `make reproduce-quick` the smoke scale.
--   bin/tau experiments/reproduce.lua [--scale smoke] [--results results/smoke] [--only a,b]
local argparse = require "argparse"
local util = require "tau.util"
local X = require "tau.experiment"

local parser = argparse("reproduce.lua", "Run the experiment scripts at one scale, then write the report.")
parser:option("--scale", "smoke | default | paper.", "default"):convert(X.choice("smoke", "default", "paper"))
parser:option("--results", "Results folder (default: results, or results/smoke at the smoke scale).")
parser:option("--only", "Comma-separated runs (script names, accuracy_vs_tau_lr_scaled; default: all that exist).")
  :convert(X.list)
parser:option("--args", "Extra flags passed to every script (as --args='--flag value').", "")
local args = parser:parse()
local results = args.results or (args.scale == "smoke" and "results/smoke" or "results")
local tau_bin = arg and arg[-1] or "bin/tau"
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Besides each script at its defaults, the fair-comparison control of the accuracy claim: the
-- same sweep with the learning rate scaled by τ (the CNN alone, to keep within the budget).
local jobs = {}
for _, name in ipairs(X.SCRIPTS) do jobs[#jobs + 1] = {name = name, script = name, flags = ""} end
jobs[#jobs + 1] = {name = "accuracy_vs_tau_lr_scaled", script = "accuracy_vs_tau", flags = "--models cnn --lr-scale tau"}

local wanted
if args.only then
  wanted = {}
  local names = {}
  for _, j in ipairs(jobs) do names[j.name] = true end
  for _, n in ipairs(args.only) do
    if not names[n] then
      local list = {}
      for _, j in ipairs(jobs) do list[#list + 1] = j.name end
      parser:error("--only: unknown run '" .. n .. "' (" .. table.concat(list, ", ") .. ")")
    end
    wanted[n] = true
  end
end

util.mkdir(results)
local runs, failed, t_all = {}, 0, tau.time()
for _, job in ipairs(jobs) do
  local name = job.name
  local script = "experiments/" .. job.script .. ".lua"
  local entry = {name = name, script = script}
  if wanted and not wanted[name] then
    entry.status = "not selected"
  elseif not io.open(script) then
    entry.status = "absent"
  else
    local out = results .. "/" .. name
    util.mkdir(out)
    local cmd = string.format("%s %s --scale %s --out %s --cache %s %s %s > %s 2>&1", q(tau_bin), q(script), args.scale,
                              q(out), q(results .. "/cache"), job.flags, args.args, q(out .. "/log.txt"))
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

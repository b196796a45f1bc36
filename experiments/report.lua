-- Collects every results/<name>/claims.json (and the tables and figures the scripts listed in
-- results.json) into results/REPORT.md: per claim of the paper its statement, what was run
-- (command, scale, seeds), the numbers, the verdict and the rule that computed it, and which
-- fair-comparison controls held. Nothing here decides a verdict: each was computed by its
-- script from its numbers.
--   bin/tau experiments/report.lua [--results results] [--out results/REPORT.md]
local argparse = require "argparse"
local util = require "tau.util"

local parser = argparse("report.lua", "Write results/REPORT.md from the claims of every experiment.")
parser:option("--results", "Folder holding one sub-folder per experiment.", "results")
parser:option("--out", "The report (default: <results>/REPORT.md).")
local args = parser:parse()
local out = args.out or (args.results .. "/REPORT.md")

-- The scripts in the order of the paper; others found in the folder come after.
local ORDER = require("tau.experiment").SCRIPTS

local function read_json(path)
  local text = util.read_file(path)
  if not text then return nil end
  local ok, v = pcall(util.json_decode, text)
  if not ok then error("report.lua: " .. path .. ": " .. v, 0) end
  return v
end

local names, seen = {}, {}
for _, n in ipairs(ORDER) do seen[n] = true end
local p = io.popen("ls " .. string.format("%q", args.results) .. " 2>/dev/null")
local present = {}
for line in p:lines() do present[line] = true end
p:close()
for _, n in ipairs(ORDER) do if present[n] then names[#names + 1] = n end end
local extra = {}
for n in pairs(present) do
  if not seen[n] and util.read_file(args.results .. "/" .. n .. "/claims.json") then extra[#extra + 1] = n end
end
table.sort(extra)
for _, n in ipairs(extra) do names[#names + 1] = n end

-- Numbers: 4 significant digits; a {mean, std} pair as mean ± std; arrays of flat records as
-- a table; nested objects as a list.
local function num(v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return string.format("%.4g", v) end
  if type(v) == "table" then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = num(x) end
    return table.concat(parts, ", ")
  end
  return tostring(v)
end

local function is_flat(t)
  for _, v in pairs(t) do if type(v) == "table" and not (#v > 0 and type(v[1]) ~= "table") then return false end end
  return true
end

local render
local function table_of(list, lines)
  local cols, has = {}, {}
  for _, r in ipairs(list) do
    for k in pairs(r) do if not has[k] then has[k] = true; cols[#cols + 1] = k end end
  end
  if has.mean and has.std then
    for i, c in ipairs(cols) do if c == "std" then table.remove(cols, i) break end end
  end
  table.sort(cols, function(a, b)
    local pa, pb = (a == "model" or a == "tau" or a == "lr") and 0 or 1, (b == "model" or b == "tau" or b == "lr") and 0 or 1
    if pa ~= pb then return pa < pb end
    return a < b
  end)
  lines[#lines + 1] = "| " .. table.concat(cols, " | ") .. " |"
  lines[#lines + 1] = "|" .. string.rep("---|", #cols)
  for _, r in ipairs(list) do
    local f = {}
    for i, c in ipairs(cols) do
      local v = r[c]
      if c == "mean" and r.std then v = num(v) .. " ± " .. num(r.std) else v = v == nil and "" or num(v) end
      f[i] = v
    end
    lines[#lines + 1] = "| " .. table.concat(f, " | ") .. " |"
  end
end

function render(v, lines, indent)
  indent = indent or ""
  if type(v) ~= "table" then lines[#lines + 1] = indent .. num(v); return end
  if #v > 0 and type(v[1]) == "table" and is_flat(v[1]) then
    lines[#lines + 1] = ""
    table_of(v, lines)
    lines[#lines + 1] = ""
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local x = v[k]
    if type(x) == "table" and not (#x > 0 and type(x[1]) ~= "table") then
      lines[#lines + 1] = indent .. "- **" .. tostring(k) .. "**"
      render(x, lines, indent .. "  ")
    else
      lines[#lines + 1] = indent .. "- " .. tostring(k) .. ": " .. num(x)
    end
  end
end

local L = {"# Report: the paper's claims tested", "",
           "Xuan, Yang, Li, *Exploring the Impact of Temperature Scaling in Softmax for Classification and "
           .. "Adversarial Robustness* (arXiv 2502.20604). Each verdict below was computed by its script from the "
           .. "numbers shown, by the rule stated beside it; verdicts are one of *supported*, *not supported*, "
           .. "*mixed*, *not testable at this scale*. A verdict at the default or smoke scale is about models far "
           .. "smaller and shorter-trained than the paper's; the controls say how fair each comparison across τ was.",
           "", "Written " .. os.date("!%Y-%m-%d %H:%M UTC") .. " by `bin/tau experiments/report.lua`.", ""}

-- The summary table first.
local all, runs = {}, {}
for _, n in ipairs(names) do
  local c = read_json(args.results .. "/" .. n .. "/claims.json")
  runs[n] = read_json(args.results .. "/" .. n .. "/results.json") or {}
  for _, claim in ipairs(c and c.claims or {}) do all[#all + 1] = {script = n, claim = claim} end
end
local function held_list(controls)
  local parts = {}
  local keys = {}
  for k in pairs(controls or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local c = controls[k]
    if type(c) == "table" and c.held ~= nil then parts[#parts + 1] = k .. (c.held and " ✓" or " ✗") end
  end
  return #parts > 0 and table.concat(parts, ", ") or "—"
end
L[#L + 1] = "## Summary"
L[#L + 1] = ""
L[#L + 1] = "| script | claim | scale | seeds | verdict | controls (✓ held, ✗ did not) |"
L[#L + 1] = "|---|---|---|---|---|---|"
for _, e in ipairs(all) do
  local c = e.claim
  L[#L + 1] = string.format("| %s | %s | %s | %s | **%s** | %s |", e.script, c.claim or c.id, tostring(c.scale),
                            num(c.seeds or ""), c.verdict, held_list(c.controls))
end
if #all == 0 then L[#L + 1] = "| — | no results found under " .. args.results .. "/ | | | | |" end
local missing = {}
for _, n in ipairs(ORDER) do if not present[n] then missing[#missing + 1] = n end end
if #missing > 0 then
  L[#L + 1] = ""
  L[#L + 1] = "Not run (no results folder): " .. table.concat(missing, ", ") .. "."
end
L[#L + 1] = ""
-- The wall times of the last experiments/reproduce.lua run, when there was one.
local rep = read_json(args.results .. "/reproduce.json")
if rep then
  L[#L + 1] = string.format("## Runs (`%s`, %s in all)", tostring(rep.provenance and rep.provenance.command),
                            util.format_time(rep.seconds or 0))
  L[#L + 1] = ""
  L[#L + 1] = "| script | status | wall time |"
  L[#L + 1] = "|---|---|---|"
  for _, r in ipairs(rep.scripts or {}) do
    L[#L + 1] = string.format("| %s | %s | %s |", r.name, r.status, r.seconds and util.format_time(r.seconds) or "—")
  end
  L[#L + 1] = ""
end

for _, n in ipairs(names) do
  local run = runs[n]
  L[#L + 1] = "## " .. n
  L[#L + 1] = ""
  if run.seconds then
    L[#L + 1] = string.format("Wall time %s; %s model(s) trained, %s loaded from the cache.",
                              util.format_time(run.seconds), tostring(run.models_trained or "?"),
                              tostring(run.models_cached or "?"))
    L[#L + 1] = ""
  end
  for _, e in ipairs(all) do
    if e.script == n then
      local c = e.claim
      L[#L + 1] = "### " .. (c.claim or c.id) .. " — **" .. c.verdict .. "**"
      L[#L + 1] = ""
      L[#L + 1] = "- Tested: " .. tostring(c.statement)
      L[#L + 1] = "- Run: `" .. tostring(c.command) .. "` (scale " .. tostring(c.scale) .. ", seeds " .. num(c.seeds or "") .. ")"
      L[#L + 1] = "- Rule: " .. tostring(c.rule)
      L[#L + 1] = "- Controls:"
      local keys = {}
      for k in pairs(c.controls or {}) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do
        local ctl = c.controls[k]
        if type(ctl) == "table" then
          L[#L + 1] = string.format("  - %s: %s — %s", k, ctl.held == nil and "n/a" or (ctl.held and "held" or "did not hold"),
                                    tostring(ctl.detail or ""))
        else
          L[#L + 1] = "  - " .. k .. ": " .. tostring(ctl)
        end
      end
      if #keys == 0 then L[#L + 1] = "  - none stated" end
      L[#L + 1] = "- Numbers:"
      render(c.numbers or {}, L, "  ")
      L[#L + 1] = ""
    end
  end
  for _, f in ipairs(run.figures or {}) do
    if f.missing then
      L[#L + 1] = string.format("Figure `%s` was not drawn: %s.", f.file, f.missing)
    else
      L[#L + 1] = string.format("![%s](%s/%s)", (f.title or f.file):gsub("[%[%]]", ""), n, f.file)
    end
    L[#L + 1] = ""
  end
  local tables = {}
  for _, f in ipairs(run.files or {}) do
    if f:match("%.csv$") then tables[#tables + 1] = string.format("[%s](%s/%s)", f, n, f) end
  end
  if #tables > 0 then L[#L + 1] = "Tables: " .. table.concat(tables, ", ") .. "."; L[#L + 1] = "" end
end

util.write_file(out, table.concat(L, "\n") .. "\n")
print(string.format("report: %d claim(s) from %d experiment(s) written to %s", #all, #names, out))

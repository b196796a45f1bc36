-- `make reproduce-quick` as CI runs it: every experiment script that exists runs at the smoke
-- scale through experiments/reproduce.lua and must exit cleanly, write the result files it
-- lists, a claims.json whose verdicts are among the four allowed and carry their rule, numbers
-- and controls, and valid PNG figures; the report gathers every claim. Under the sanitizer build
-- (a several times slower interpreter) three scripts run: training, attacks and corruptions.
local T = ...
package.path = "tests/lua/?.lua;" .. package.path
local fx = require "fixtures"
local X = require "tau.experiment"
local util = require "tau.util"

local FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
local tmp = fx.root()
local q = fx.quote
local results = tmp .. "/results"
local sanitized = fx.tau_bin():find("asan", 1, true) ~= nil
local ran -- the reproduce.json of the run, once it has run

local function run()
  if ran ~= nil then return ran end
  local extra = sanitized and " --only accuracy_vs_tau,pgd_logits,corruption" or ""
  local log = tmp .. "/reproduce.txt"
  fx.sh(q(fx.tau_bin()) .. " experiments/reproduce.lua --scale smoke --results " .. q(results) .. extra .. " > " .. q(log)
        .. " 2>&1; echo \"exit $?\" >> " .. q(log))
  local text = fx.read(log) or ""
  ran = {text = text, code = tonumber(text:match("exit (%d+)%s*$")), summary = util.json_decode(fx.read(results ..
        "/reproduce.json") or "null")}
  return ran
end

-- Width and height of a PNG file, or nil and why not.
local function png_size(path)
  local b = fx.read(path)
  if not b then return nil, "missing" end
  if b:sub(1, 8) ~= "\137PNG\r\n\26\n" then return nil, "no PNG signature" end
  if b:sub(13, 16) ~= "IHDR" then return nil, "no IHDR chunk first" end
  return string.unpack(">I4", b, 17), string.unpack(">I4", b, 21)
end

T.test("reproduce-quick: every script that exists runs at the smoke scale", function()
  if not fx.exists(FMNIST) then T.skip("Fashion-MNIST not installed (" .. FMNIST .. ")") end
  local r = run()
  T.eq(r.code, 0, "exit status; output:\n" .. r.text)
  T.ok(r.summary and r.summary.scripts, "reproduce.json lists the scripts")
  local n = 0
  for _, s in ipairs(r.summary.scripts) do
    if s.seconds then
      n = n + 1
      T.eq(s.status, "ok", s.name .. ": " .. (fx.read(s.log) or ""):sub(-2000))
    end
  end
  T.ok(n >= (sanitized and 1 or 4), "at least the four shared-machinery scripts ran; ran " .. n)
end)

T.test("reproduce-quick: result files, claims with computed verdicts, a report", function()
  if not fx.exists(FMNIST) then T.skip("Fashion-MNIST not installed (" .. FMNIST .. ")") end
  local r = run()
  T.ok(r.summary, "the run wrote reproduce.json: " .. r.text)
  local report = fx.read(results .. "/REPORT.md") or ""
  for _, s in ipairs(r.summary.scripts) do
    if s.seconds then
      local dir = results .. "/" .. s.name
      local info = util.json_decode(fx.read(dir .. "/results.json") or "null")
      T.ok(info, s.name .. ": results.json")
      T.ok(#info.files > 0, s.name .. ": lists its tables")
      for _, f in ipairs(info.files) do
        T.ok(fx.exists(dir .. "/" .. f), s.name .. ": " .. f .. " exists")
        if f:match("%.csv$") then T.ok((fx.lines(dir .. "/" .. f)[1] or ""):match("^# {"), f .. " is stamped") end
      end
      local claims = util.json_decode(fx.read(dir .. "/claims.json") or "null")
      T.ok(claims and #claims.claims > 0, s.name .. ": claims.json holds a claim")
      T.ok(claims.provenance.command and claims.provenance.tau_version, s.name .. ": claims are stamped")
      for _, c in ipairs(claims.claims) do
        T.ok(X.VERDICTS[c.verdict], s.name .. "/" .. tostring(c.id) .. ": verdict " .. tostring(c.verdict))
        T.ok(type(c.rule) == "string" and #c.rule > 20, c.id .. ": the rule is stated")
        T.ok(c.numbers ~= nil and c.statement and c.command, c.id .. ": numbers, statement and command")
        T.eq(c.scale, "smoke")
        T.ok(type(c.controls) == "table", c.id .. ": controls")
        T.ok(report:find(c.statement, 1, true), c.id .. ": in the report")
      end
    end
  end
end)

T.test("reproduce-quick: every figure is a valid PNG", function()
  if not fx.exists(FMNIST) then T.skip("Fashion-MNIST not installed (" .. FMNIST .. ")") end
  if not pcall(require, "tau.plot") then T.skip("tau.plot is not part of this build") end
  local r = run()
  T.ok(r.summary, "the run wrote reproduce.json")
  local figures = 0
  for _, s in ipairs(r.summary.scripts) do
    if s.seconds then
      local info = util.json_decode(fx.read(results .. "/" .. s.name .. "/results.json") or "null")
      for _, f in ipairs(info and info.figures or {}) do
        T.ok(not f.missing, s.name .. "/" .. f.file .. ": " .. tostring(f.missing))
        local w, h = png_size(results .. "/" .. s.name .. "/" .. f.file)
        T.ok(w and w >= 100 and h >= 100, s.name .. "/" .. f.file .. ": " .. tostring(h))
        figures = figures + 1
      end
    end
  end
  T.ok(figures >= (sanitized and 1 or 4), "one figure a script at least; got " .. figures)
end)

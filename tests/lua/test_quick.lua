-- experiments/quick.lua (the `make run` job) as a user runs it: a short temperature sweep on
-- Fashion-MNIST prints its table and writes CSV and JSON results carrying their provenance;
-- bad flags stop it with a message and a non-zero exit status.
local T = ...
package.path = "tests/lua/?.lua;" .. package.path
local fx = require "fixtures"

local FMNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
local tmp = fx.root()
local q = fx.quote

-- Runs bin/tau experiments/quick.lua with the given arguments; returns its output and status.
local function quick(args)
  local log = tmp .. "/out.txt"
  local cmd = q(fx.tau_bin()) .. " experiments/quick.lua " .. args .. " > " .. q(log) .. " 2>&1; echo \"exit $?\" >> " .. q(log)
  fx.sh(cmd)
  local text = fx.read(log) or ""
  local code = tonumber(text:match("exit (%d+)%s*$"))
  return text, code
end

T.test("quick.lua sweeps two temperatures: table, CSV and JSON with provenance", function()
  if not fx.exists(FMNIST) then T.skip("Fashion-MNIST not installed (" .. FMNIST .. ")") end
  local out = tmp .. "/results/q"
  local text, code = quick("--taus 1,2 --epochs 1 --train-limit 512 --robust-n 64 --out " .. q(out))
  T.eq(code, 0, "exit status; output:\n" .. text)
  T.ok(text:find("512 training, 10000 test images", 1, true), "data summary: " .. text)
  local header = text:find("tau%s+clean acc%s+corrupt acc%s+PGD%-10 acc")
  T.ok(header, "the table's header is printed: " .. text)
  local after = text:sub(header)
  for _, t in ipairs{"1", "2"} do
    T.ok(after:find("\n" .. t .. "%s+[%d.]+%%%s+[%d.]+%%%s+[%d.]+%%"), "a table row for tau " .. t .. ": " .. after)
  end
  T.ok(text:find("results written to " .. out .. ".csv", 1, true), "says where the results are")

  local csv = fx.lines(out .. ".csv")
  T.eq(#csv, 4, "provenance, header, 2 rows")
  T.ok(csv[1]:match("^# {"), "provenance line: " .. tostring(csv[1]))
  local prov = fx.json_decode(csv[1]:sub(3))
  T.ok(prov.command:find("experiments/quick.lua --taus 1,2", 1, true), "command: " .. tostring(prov.command))
  T.eq(prov.seed, 1)
  T.eq(prov.tau_version, tau.version)
  T.eq(prov.epochs, 1)
  T.eq(prov.robust_n, 64)
  T.eq(csv[2], "tau,clean_acc,test_loss,corruption_acc,pgd10_acc,train_seconds")
  for i, t in ipairs{1, 2} do
    local f = {}
    for v in (csv[2 + i] .. ","):gmatch("([^,]*),") do f[#f + 1] = tonumber(v) end
    T.eq(#f, 6, "CSV row " .. i)
    T.eq(f[1], t)
    for k = 2, 5 do T.ok(f[k] and f[k] >= 0, "CSV row " .. i .. " column " .. k) end
    T.ok(f[2] <= 1 and f[4] <= 1 and f[5] <= 1, "accuracies are fractions")
  end

  local doc = fx.json_decode(fx.read(out .. ".json"))
  T.eq(doc.provenance.command, prov.command)
  T.eq(doc.provenance.seed, 1)
  T.eq(doc.provenance.tau_version, tau.version)
  T.eq(#doc.results, 2)
  for i, t in ipairs{1, 2} do
    local r = doc.results[i]
    T.eq(r.tau, t)
    for _, k in ipairs{"clean_acc", "corruption_acc", "pgd10_acc"} do
      T.ok(type(r[k]) == "number" and r[k] >= 0 and r[k] <= 1, "result " .. i .. " " .. k)
    end
    T.ok(r.clean_acc > 0.2, "training did something at tau " .. t .. ": " .. r.clean_acc)
    T.ok(r.pgd10_acc <= r.clean_acc + 0.1, "PGD does not help at tau " .. t)
  end
end)

T.test("quick.lua refuses bad flags with a message and a non-zero status", function()
  local text, code = quick("--taus abc --out " .. q(tmp .. "/bad"))
  T.ok(code and code ~= 0, "non-zero exit: " .. text)
  T.ok(text:find("--taus: 'abc' is not a positive number", 1, true), "message: " .. text)
  T.ok(text:find("Usage", 1, true), "usage shown: " .. text)
  text, code = quick("--taus 1,-2")
  T.ok(code and code ~= 0, "non-zero exit for a negative tau: " .. text)
  T.ok(text:find("'-2' is not a positive number", 1, true), "message: " .. text)
  text, code = quick("--epochs many")
  T.ok(code and code ~= 0, "non-zero exit for --epochs many: " .. text)
  T.ok(text:find("epochs", 1, true), "names the flag: " .. text)
  text, code = quick("--no-such-flag")
  T.ok(code and code ~= 0, "non-zero exit for an unknown flag: " .. text)
  T.ok(text:find("no%-such%-flag"), "names the flag: " .. text)
  T.eq(fx.exists(tmp .. "/bad.csv"), false, "nothing written")
end)

T.test("cleanup", function() fx.rmdir(tmp) end)

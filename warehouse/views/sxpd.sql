-- SXPD views. sxpd_patterns holds what a pattern says on its own; sxpd_alignment (finalize) places it
-- on the cell's cycle. Re-aligning (new clock offset, new cycler file) rewrites only sxpd_alignment.

-- Every pattern with its time, voltage, charge, SOC and branch (null + flag when not aligned).
CREATE OR REPLACE VIEW sxpd_patterns_soc AS
SELECT p.*,
       al.cell_id, al.elapsed_s, al.cycler_time_s, al.voltage_v, al.current_a, al.charge_ah,
       al.soc_pct, al.branch, al.clock_offset_s,
       coalesce(al.alignment_flag, 'not aligned: finalize has not run') AS alignment_flag
FROM sxpd_patterns p
LEFT JOIN sxpd_alignment al
  ON al.measurement_id = p.measurement_id AND al.params_id = p.params_id;

-- Lattice and strain against SOC in 5 % bins, per branch (finding 4: a falls, c peaks near 90 %).
CREATE OR REPLACE VIEW sxpd_lattice_by_soc AS
SELECT sample_id, params_id, branch,
       floor(soc_pct / 5) * 5 + 2.5 AS soc_bin_pct,
       count(*) AS n_patterns,
       avg(a_angstrom) AS a_angstrom,
       avg(c_angstrom) AS c_angstrom,
       avg(volume_a3) AS volume_a3,
       avg(microstrain_00l_pct) AS microstrain_00l_pct,
       avg(microstrain_hk0_pct) AS microstrain_hk0_pct
FROM sxpd_patterns_soc
WHERE soc_pct IS NOT NULL
GROUP BY ALL;

-- Our lattice parameters next to an external refinement of the same pattern (matched on scan number).
CREATE OR REPLACE VIEW sxpd_refinement_comparison AS
SELECT r.pattern, r.program, r.scan_number,
       p.measurement_id, p.sample_id,
       p.a_angstrom, r.a_angstrom AS a_external_angstrom, p.a_angstrom - r.a_angstrom AS a_difference_angstrom,
       p.c_angstrom, r.c_angstrom AS c_external_angstrom, p.c_angstrom - r.c_angstrom AS c_difference_angstrom,
       r.rwp_pct
FROM sxpd_refinements r
JOIN sxpd_patterns p ON p.scan_number = r.scan_number;

-- Every declared phase's cell, scale and weight fraction per pattern, with the pattern's SOC and branch.
-- mode = the phase (features come out per phase); n_sample_phases: main + secondary phases of the pattern.
CREATE OR REPLACE VIEW sxpd_phase_cells_soc AS
SELECT c.* EXCLUDE (mode), c.phase AS mode,
       count(*) FILTER (WHERE c.role <> 'cell_part') OVER (PARTITION BY c.measurement_id, c.params_id) AS n_sample_phases,
       al.cell_id, al.voltage_v, al.charge_ah, al.soc_pct, al.branch,
       coalesce(al.alignment_flag, 'not aligned: finalize has not run') AS alignment_flag
FROM sxpd_phase_cells c
LEFT JOIN sxpd_alignment al
  ON al.measurement_id = c.measurement_id AND al.params_id = c.params_id;

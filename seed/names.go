package seed

// The raw material of the demo institution: people's names, departments, research
// topics and job names. Everything random is drawn from these lists with the seeded
// generator, so the same seed names the same people.

var firstNames = []string{
	"Aisha", "Alejandro", "Alice", "Amara", "Amir", "Ana", "Andrea", "Anna", "Arjun", "Astrid",
	"Ben", "Bianca", "Camille", "Carlos", "Caroline", "Chen", "Chloe", "Daniel", "Dario", "David",
	"Diego", "Dmitri", "Elena", "Elif", "Emeka", "Emily", "Emma", "Erik", "Fatima", "Felix",
	"Fiona", "Francesca", "Gabriel", "Giulia", "Grace", "Hana", "Hannah", "Hassan", "Helena", "Hiroshi",
	"Ingrid", "Isaac", "Isabel", "Ivan", "Jakob", "James", "Jana", "Javier", "Jia", "Joao",
	"Jonas", "Julia", "Kai", "Karim", "Kate", "Kenji", "Kwame", "Lara", "Laura", "Leila",
	"Leon", "Li", "Lina", "Lucas", "Lucia", "Luis", "Maja", "Malik", "Marco", "Maria",
	"Mariam", "Mark", "Marta", "Mateo", "Matthew", "Mei", "Mia", "Michael", "Mohammed", "Nadia",
	"Naomi", "Nikhil", "Nina", "Noah", "Nora", "Olga", "Oliver", "Omar", "Pablo", "Paula",
	"Pedro", "Peter", "Priya", "Rafael", "Rahul", "Rania", "Rebecca", "Ricardo", "Rosa", "Ruth",
	"Sakura", "Samuel", "Sara", "Sebastian", "Sofia", "Sophie", "Stefan", "Sunil", "Tariq", "Thomas",
	"Tobias", "Tomas", "Valentina", "Victor", "Wei", "Xin", "Yara", "Yusuf", "Yuki", "Zainab",
	"Zoe", "Adrian", "Beatriz", "Clara", "Dong", "Eva", "Farah", "Georg", "Hugo", "Irene",
	"Jorge", "Kofi", "Lena", "Mads", "Nils", "Oscar", "Petra", "Quentin", "Rui", "Simone",
}

var surnames = []string{
	"Abbott", "Adeyemi", "Ahmed", "Alvarez", "Andersen", "Bauer", "Becker", "Bergstrom", "Bianchi", "Brown",
	"Campbell", "Castro", "Chang", "Chen", "Costa", "Cruz", "Dahl", "Das", "Diaz", "Dubois",
	"Edwards", "Eriksson", "Evans", "Fernandez", "Fischer", "Fontaine", "Garcia", "Gomez", "Gonzalez", "Gupta",
	"Haddad", "Hansen", "Hartmann", "Hoffmann", "Huang", "Hughes", "Ibrahim", "Ivanova", "Jansen", "Jensen",
	"Johnson", "Kaur", "Kim", "Klein", "Kowalski", "Kumar", "Larsen", "Lee", "Lehmann", "Li",
	"Lindqvist", "Liu", "Lopez", "Martin", "Martinez", "Meyer", "Moreau", "Morales", "Mueller", "Murphy",
	"Nakamura", "Nguyen", "Nielsen", "Novak", "Nowak", "Obi", "Okafor", "Olsen", "Ortiz", "Park",
	"Patel", "Perez", "Petrov", "Popescu", "Quinn", "Rahman", "Ramirez", "Reddy", "Reyes", "Richter",
	"Rivera", "Rossi", "Ruiz", "Russo", "Saito", "Sanchez", "Santos", "Sato", "Schmidt", "Schneider",
	"Schulz", "Sharma", "Silva", "Singh", "Smith", "Sorensen", "Suzuki", "Tanaka", "Taylor", "Thomas",
	"Torres", "Vargas", "Virtanen", "Wagner", "Walker", "Wang", "Weber", "Williams", "Wilson", "Wong",
	"Wu", "Xu", "Yamamoto", "Yang", "Yilmaz", "Young", "Zhang", "Zhao", "Zhou", "Zimmermann",
	"Achebe", "Bakker", "Carvalho", "Dimitriou", "Engel", "Farouk", "Gallagher", "Horvath", "Iyer", "Jovanovic",
	"Karlsson", "Lindgren", "Mensah", "Nagy", "Oyelaran", "Papadopoulos", "Rocha", "Szabo", "Takahashi", "Ueda",
}

// topic is a research topic: a slug fragment and a name.
type topic struct{ slug, name string }

// department is one of the institution's departments and what its people do.
type department struct {
	slug, short, cc, name string
	labs                  int
	areas                 []string // lab research areas
	topics                []topic  // project topics
	jobNames              []string // what its Slurm jobs are called
	gpuAffinity           float64  // share of its labs with access to the GPU cluster
	highmemAffinity       float64  // share of its users who need big-memory nodes
}

var departments = []department{
	{
		slug: "physics", short: "phy", cc: "PHY", name: "Department of Physics", labs: 9,
		areas: []string{"Lattice Field Theory", "Computational Cosmology", "Plasma Physics", "Condensed Matter Theory",
			"Gravitational Waves", "Quantum Optics", "Particle Phenomenology", "Soft Matter", "Astrophysical Fluids"},
		topics: []topic{{"qcd", "Lattice QCD"}, {"cosmo", "Cosmological simulations"}, {"plasma", "Plasma turbulence"},
			{"qdots", "Quantum dots"}, {"gw", "Gravitational-wave searches"}, {"dft", "Electronic structure"},
			{"lhc", "LHC data analysis"}, {"optics", "Nonlinear optics"}, {"mhd", "Magnetohydrodynamics"},
			{"spin", "Spin systems"}, {"neutrino", "Neutrino oscillations"}, {"galaxy", "Galaxy formation"}},
		jobNames:    []string{"lattice_hmc", "gadget4", "athena_mhd", "quantum_espresso", "vasp_relax", "pycbc_search", "mc_sweep", "analysis.sh", "run_sim"},
		gpuAffinity: 0.5, highmemAffinity: 0.08,
	},
	{
		slug: "chemistry", short: "chem", cc: "CHE", name: "Department of Chemistry", labs: 8,
		areas: []string{"Computational Catalysis", "Biomolecular Simulation", "Quantum Chemistry", "Materials Chemistry",
			"Spectroscopy", "Electrochemistry", "Organic Synthesis", "Atmospheric Chemistry"},
		topics: []topic{{"catalysis", "Heterogeneous catalysis"}, {"md", "Molecular dynamics"}, {"qm", "Ab-initio methods"},
			{"mof", "Metal-organic frameworks"}, {"nmr", "NMR prediction"}, {"battery", "Battery materials"},
			{"enzyme", "Enzyme mechanisms"}, {"solv", "Solvation models"}, {"photo", "Photochemistry"},
			{"polymer", "Polymer design"}},
		jobNames:    []string{"g16_opt", "orca_freq", "cp2k_md", "gromacs_equil", "gromacs_prod", "amber_pmemd", "lammps_run", "nwchem", "crest_conf"},
		gpuAffinity: 0.3, highmemAffinity: 0.12,
	},
	{
		slug: "biology", short: "bio", cc: "BIO", name: "Department of Biology", labs: 9,
		areas: []string{"Genomics", "Structural Biology", "Neuroscience", "Evolutionary Biology", "Microbiology",
			"Systems Biology", "Plant Sciences", "Cancer Biology", "Ecology"},
		topics: []topic{{"wgs", "Whole-genome sequencing"}, {"rnaseq", "RNA-seq atlas"}, {"cryoem", "Cryo-EM reconstruction"},
			{"fold", "Protein structure prediction"}, {"meta", "Metagenomics"}, {"phylo", "Phylogenomics"},
			{"imaging", "Light-sheet imaging"}, {"scrna", "Single-cell transcriptomics"}, {"gwas", "Association studies"},
			{"connectome", "Connectomics"}, {"microbiome", "Gut microbiome"}},
		jobNames:    []string{"bwa_mem", "gatk_haplotype", "star_align", "snakejob", "nf-core_rnaseq", "relion_refine", "alphafold", "kraken2", "iqtree", "cellranger"},
		gpuAffinity: 0.35, highmemAffinity: 0.25,
	},
	{
		slug: "computer-science", short: "cs", cc: "CSC", name: "Department of Computer Science", labs: 8,
		areas: []string{"Machine Learning", "Computer Vision", "Natural Language Processing", "Distributed Systems",
			"Robotics", "Programming Languages", "Security", "Computational Geometry"},
		topics: []topic{{"llm", "Language models"}, {"vision", "Visual recognition"}, {"rl", "Reinforcement learning"},
			{"graph", "Graph analytics"}, {"compiler", "Compiler optimisation"}, {"fuzz", "Fuzzing at scale"},
			{"speech", "Speech recognition"}, {"robot", "Robot learning"}, {"federated", "Federated learning"},
			{"verify", "Program verification"}},
		jobNames:    []string{"train.py", "finetune_llm", "eval", "hparam_sweep", "torchrun", "preprocess", "bench", "fuzz_campaign", "jupyter"},
		gpuAffinity: 1.0, highmemAffinity: 0.05,
	},
	{
		slug: "earth-sciences", short: "earth", cc: "EAS", name: "Department of Earth Sciences", labs: 6,
		areas: []string{"Climate Dynamics", "Seismology", "Oceanography", "Hydrology", "Glaciology", "Geodynamics"},
		topics: []topic{{"cesm", "Earth-system model runs"}, {"wrf", "Regional weather forecasts"}, {"seis", "Seismic tomography"},
			{"ocean", "Ocean circulation"}, {"flood", "Flood risk"}, {"ice", "Ice-sheet modelling"},
			{"mantle", "Mantle convection"}, {"reanalysis", "Reanalysis downscaling"}},
		jobNames:    []string{"wrf.exe", "cesm_run", "specfem3d", "mitgcm", "cdo_regrid", "icepack", "aspect", "postproc.sh"},
		gpuAffinity: 0.2, highmemAffinity: 0.15,
	},
}

// genericJobNames are what anyone's jobs may be called.
var genericJobNames = []string{"bash", "interactive", "test", "job.sh", "run.sh", "python", "sys/dashboard/sys/jupyter"}

// visitorLogins submit to the unmapped visitor account; they have no user record, so
// ingest creates them.
var visitorLogins = []string{"visitor01", "visitor02", "visitor03", "guest-ta"}
